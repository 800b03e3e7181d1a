"""The trace of one order: everything known about it, merged in time order. Reads only.

Other apps contribute entries by registering a callable in ``trace_sources``::

    from traceability.selectors import TraceEntry, trace_sources

    @trace_sources.register("channels.inbound")
    def inbound_messages(order: Order) -> list[TraceEntry]:
        ...

Each source returns ``TraceEntry`` values (frozen); the trace sorts them all by ``at``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from health.choices import AnomalyKind, Resolution
from health.models import Anomaly
from orderhub.choices import Milestone
from orderhub.models import Order, StatusFact
from orderhub.registry import Registry
from orderhub.selectors import SystemStatus, order_status_by_system
from traceability import checkpoints
from traceability.models import LedgerEvent, LedgerSeal


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One line of an order's timeline.

    ``source_system`` says who stated it (``shopify:main``, ``wms:WH-SH``, ``orderhub``…);
    ``kind`` what it is (``ledger``, ``fact``, ``history``, ``inbound``, ``outbound``…);
    ``details`` are (label, value) pairs shown as text; ``raw`` is an optional raw document
    (an inbound body, an HTTP exchange) shown verbatim on request.
    """

    at: datetime
    source_system: str
    kind: str
    title: str
    actor: str = ""
    details: tuple[tuple[str, str], ...] = ()
    raw: str = ""
    ledger_seq: int | None = None
    ledger_hash: str = ""


TraceSource = Callable[[Order], list[TraceEntry]]
trace_sources: Registry[TraceSource] = Registry("trace sources")


@dataclass(frozen=True, slots=True)
class AnomalySpan:
    """An anomaly seen in the ledger (``anomaly.opened`` … ``anomaly.resolved``)."""

    subject_id: str
    kind: str
    opened_at: datetime
    resolved_at: datetime | None
    resolved_by: str
    evidence: str

    @property
    def kind_label(self) -> str:
        return str(AnomalyKind(self.kind).label) if self.kind in AnomalyKind.values else self.kind

    @property
    def resolved_by_label(self) -> str:
        if self.resolved_by in Resolution.values:
            return str(Resolution(self.resolved_by).label)
        return self.resolved_by

    @property
    def recovery_seconds(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds()


@dataclass(frozen=True, slots=True)
class LedgerRange:
    """Where the order's events sit in the chain, and the checkpoint that covers them."""

    event_count: int
    sealed_count: int
    first_seq: int | None
    last_seq: int | None
    first_hash: str
    last_hash: str
    checkpoint: checkpoints.Checkpoint | None


@dataclass(frozen=True, slots=True)
class OrderTrace:
    order: Order
    entries: tuple[TraceEntry, ...]
    systems: tuple[SystemStatus, ...]
    anomalies: tuple[AnomalySpan, ...]
    ledger: LedgerRange
    generated_at: datetime
    sources: tuple[str, ...] = field(default=())


ACTION_LABELS: dict[str, Any] = {
    "order.created": _("Order created"),
    "order.updated": _("Order updated"),
    "order.transition": _("Status changed"),
    "order.transition_denied": _("Status change refused"),
    "fact.recorded": _("Status fact recorded"),
    "intake.received": _("Message received"),
    "outbound.call": _("Outbound call"),
    "allocation.won": _("Warehouse allocated"),
    "anomaly.opened": _("Anomaly opened"),
    "anomaly.resolved": _("Anomaly resolved"),
    "alert.sent": _("Alert sent"),
    "trace.exported": _("Trace exported"),
}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _status_label(value: Any) -> str:
    return str(Milestone(value).label) if value in Milestone.values else str(value)


def _ledger_title(event: LedgerEvent) -> str:
    label = str(ACTION_LABELS.get(event.action, event.action))
    before, after = event.before.get("status"), event.after.get("status")
    if before and after and before != after:
        return f"{label}: {_status_label(before)} → {_status_label(after)}"
    return label


def _ledger_details(event: LedgerEvent) -> tuple[tuple[str, str], ...]:
    details: list[tuple[str, str]] = [(str(_("action")), event.action)]
    if event.subject_type:
        details.append((str(_("subject")), f"{event.subject_type} {event.subject_id}"))
    for name, value in sorted(event.before.items()):
        details.append((f"{_('before')}: {name}", _text(value)))
    for name, value in sorted(event.after.items()):
        details.append((f"{_('after')}: {name}", _text(value)))
    for name, value in sorted(event.references.items()):
        if value not in (None, "", [], {}):
            details.append((name, _text(value)))
    return tuple(details)


@trace_sources.register("ledger")
def ledger_entries(order: Order) -> list[TraceEntry]:
    events = LedgerEvent.objects.filter(order_id=order.pk).select_related("seal").order_by("id")
    entries = []
    for event in events:
        seal = getattr(event, "seal", None)
        entries.append(
            TraceEntry(
                at=event.created_at,
                source_system=event.source_system or "orderhub",
                kind="ledger",
                title=_ledger_title(event),
                actor=event.actor,
                details=_ledger_details(event),
                ledger_seq=seal.seq if seal else None,
                ledger_hash=seal.hash if seal else "",
            )
        )
    return entries


@trace_sources.register("facts")
def fact_entries(order: Order) -> list[TraceEntry]:
    """Each system's statement at the time the system says it happened (its own clock)."""
    entries = []
    for fact in StatusFact.objects.filter(order=order).order_by("occurred_at", "id"):
        milestone = str(fact.get_milestone_display()) if fact.milestone else str(_("unmapped"))
        entries.append(
            TraceEntry(
                at=fact.occurred_at,
                source_system=fact.system,
                kind="fact",
                title=f"{fact.raw_status} → {milestone}",
                details=(
                    (str(_("raw status")), fact.raw_status),
                    (str(_("canonical status")), fact.milestone or "-"),
                    (str(_("outcome")), str(fact.get_outcome_display())),
                    (str(_("received at")), timezone.localtime(fact.received_at).isoformat()),
                    (
                        str(_("order status")),
                        f"{_status_label(fact.status_before)} → {_status_label(fact.status_after)}",
                    ),
                ),
            )
        )
    return entries


@trace_sources.register("history")
def history_entries(order: Order) -> list[TraceEntry]:
    """Field changes recorded by django-simple-history, with who made them and why."""
    records = list(
        order.history.select_related("history_user").order_by("history_date", "history_id")
    )
    entries = []
    previous = None
    for record in records:
        details: list[tuple[str, str]] = []
        if previous is not None:
            delta = record.diff_against(previous)
            details = [(change.field, f"{change.old} → {change.new}") for change in delta.changes]
        if record.history_change_reason:
            details.insert(0, (str(_("reason")), record.history_change_reason))
        user = record.history_user.get_username() if record.history_user else ""
        kind = {"+": _("Record created"), "~": _("Record changed"), "-": _("Record deleted")}
        entries.append(
            TraceEntry(
                at=record.history_date,
                source_system="orderhub",
                kind="history",
                title=str(kind.get(record.history_type, record.history_type)),
                actor=user,
                details=tuple(details),
            )
        )
        previous = record
    return entries


def _anomalies(order: Order) -> list[AnomalySpan]:
    """The order's anomalies as the consistency engine recorded them, oldest first."""
    spans = []
    for anomaly in (
        Anomaly.objects.filter(order_id=order.pk)
        .select_related("resolved_by")
        .order_by("opened_at", "id")
    ):
        if anomaly.resolved_by is not None:
            resolved_by = anomaly.resolved_by.get_username()
        elif anomaly.resolved_by_action:
            resolved_by = f"{anomaly.resolution} ({anomaly.resolved_by_action})"
        else:
            resolved_by = anomaly.resolution
        spans.append(
            AnomalySpan(
                subject_id=str(anomaly.pk),
                kind=anomaly.kind,
                opened_at=anomaly.opened_at,
                resolved_at=anomaly.resolved_at,
                resolved_by=resolved_by,
                evidence=_text(anomaly.evidence),
            )
        )
    return spans


def _ledger_range(order: Order) -> LedgerRange:
    events = LedgerEvent.objects.filter(order_id=order.pk)
    seals = LedgerSeal.objects.filter(event__order_id=order.pk)
    bounds = seals.aggregate(first=Min("seq"), last=Max("seq"))
    first_seq, last_seq = bounds["first"], bounds["last"]
    hashes = dict(
        LedgerSeal.objects.filter(seq__in=[s for s in (first_seq, last_seq) if s]).values_list(
            "seq", "hash"
        )
    )
    covering = checkpoints.checkpoint_covering(last_seq) if last_seq is not None else None
    return LedgerRange(
        event_count=events.count(),
        sealed_count=seals.count(),
        first_seq=first_seq,
        last_seq=last_seq,
        first_hash=hashes.get(first_seq, "") if first_seq else "",
        last_hash=hashes.get(last_seq, "") if last_seq else "",
        checkpoint=covering,
    )


def order_trace(*, order: Order) -> OrderTrace:
    """Everything every registered source knows about ``order``, oldest first."""
    entries: list[TraceEntry] = []
    names = []
    for name, source in trace_sources.items():
        entries.extend(source(order))
        names.append(name)
    entries.sort(key=lambda entry: (entry.at, entry.ledger_seq or 0))
    return OrderTrace(
        order=order,
        entries=tuple(entries),
        systems=tuple(order_status_by_system(order=order)),
        anomalies=tuple(_anomalies(order)),
        ledger=_ledger_range(order),
        generated_at=timezone.now(),
        sources=tuple(names),
    )
