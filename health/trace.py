"""The anomalies of an order in its trace: opening (with the evidence), the repair actions
and resolution."""

from __future__ import annotations

import json
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from health.models import Anomaly
from orderhub.models import Order
from traceability.selectors import TraceEntry

SOURCE = "orderhub:health"
REPAIR_SOURCE = "orderhub:repair"


def anomaly_entries(order: Order) -> list[TraceEntry]:
    """Two entries per resolved anomaly, one per open one, at OrderHub's times."""
    entries = []
    for anomaly in Anomaly.objects.filter(order=order).select_related("resolved_by"):
        details = [
            (_("evidence at"), anomaly.evidence_at.isoformat()),
            (_("evidence"), _json(anomaly.evidence)),
        ]
        if anomaly.deadline is not None:
            details.append((_("deadline"), anomaly.deadline.isoformat()))
        entries.append(
            TraceEntry(
                at=anomaly.opened_at,
                source_system=SOURCE,
                kind="anomaly",
                title=_("Anomaly opened: %(kind)s") % {"kind": anomaly.get_kind_display()},
                details=tuple(details),
            )
        )
        for action in anomaly.actions:
            entries.append(_action_entry(anomaly, action))
        if anomaly.resolved_at is not None:
            who = anomaly.resolved_by.get_username() if anomaly.resolved_by else SOURCE
            entries.append(
                TraceEntry(
                    at=anomaly.resolved_at,
                    source_system=SOURCE,
                    kind="anomaly",
                    title=_("Anomaly resolved: %(kind)s") % {"kind": anomaly.get_kind_display()},
                    actor=who,
                    details=(
                        (_("resolution"), str(anomaly.get_resolution_display())),
                        (_("note"), anomaly.resolved_note),
                        *(
                            ((_("by repair action"), anomaly.resolved_by_action),)
                            if anomaly.resolved_by_action
                            else ()
                        ),
                    ),
                )
            )
    return entries


def _action_entry(anomaly: Anomaly, action: dict[str, Any]) -> TraceEntry:
    """One auto-repair run: what it did, what the other side answered, whether it escalated."""
    moment = parse_datetime(str(action.get("finished_at") or action.get("started_at") or ""))
    details = [
        (_("outcome"), str(action.get("outcome", ""))),
        (_("detail"), _json(action.get("detail", {}))),
    ]
    if action.get("escalated"):
        details.append((_("escalated"), _("yes: the gap is still open, people are alerted")))
    return TraceEntry(
        at=moment or anomaly.opened_at,
        source_system=REPAIR_SOURCE,
        kind="anomaly",
        title=_("Repair action: %(action)s") % {"action": action.get("action", "")},
        details=tuple(details),
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
