"""An order's story: one plain line per event, each event once. Reads only.

The raw trace (``selectors.order_trace``) lists every record every source holds, so one status
report appears three times: the fact, the history row it caused and its ledger events. The
story merges them: a status fact is one line (its ledger events ``fact.recorded`` and the
``order.transition`` it caused give that line its ledger seal), a courier event that became a
fact is that same line, history rows are never lines (each has its ledger event), and every
other ledger event is one line in words, never as keys. Each line carries the source's clock
(``source_at``, when the source says it happened; ``None`` when OrderHub itself did it) and
OrderHub's (``received_at``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from channels_app.models import InboundMessage, OutboundCall
from health.choices import AnomalyKind, Resolution
from health.models import Anomaly
from orderhub.choices import FactOutcome, Milestone, Priority, TrackingStage
from orderhub.models import Order, StatusFact, TrackingEvent
from traceability.models import LedgerEvent
from traceability.selectors import ACTION_LABELS

# Source roles, in the order the staff page shows them side by side.
CHANNEL, ERP, WMS, COURIER, CUSTOMER, ORDERHUB = (
    "channel",
    "erp",
    "wms",
    "courier",
    "customer",
    "orderhub",
)
ROLES: tuple[str, ...] = (CHANNEL, ERP, WMS, COURIER, CUSTOMER)
_ROLE_OF_KIND = {
    "erp": ERP,
    "kingdee_k3": ERP,
    "wms": WMS,
    "tms": COURIER,
    "courier": COURIER,
    "kuaidi100": COURIER,
    "aftership": COURIER,
    "track17": COURIER,
    "customer": CUSTOMER,
    "webform": CUSTOMER,
}
_ORDERHUB_SOURCES = {"", "orderhub", "admin", "staff", "demo", "api", "system"}

# Ledger actions the story tells through the rows they describe (facts, anomalies, calls) or
# that repeat another line (the history rows are never lines at all).
_FOLDED_ACTIONS = {"fact.recorded", "anomaly.opened", "anomaly.resolved"}


def system_role(system: str) -> str:
    """``channel``, ``erp``, ``wms``, ``courier``, ``customer`` or ``orderhub`` for a
    ``StatusFact.system``-style name (``douyin:shop``, ``seed:wms:WH-SH``, ``kuaidi100:kd``)."""
    name = system.removeprefix("seed:")
    if name.startswith("orderhub") or name in _ORDERHUB_SOURCES:
        return ORDERHUB
    kind = name.split(":", 1)[0].split(".", 1)[0]
    if kind in _ROLE_OF_KIND:
        return _ROLE_OF_KIND[kind]
    return CHANNEL if ":" in name else ORDERHUB


def role_label(role: str) -> str:
    labels = {
        CHANNEL: pgettext("system role", "Channel"),
        ERP: pgettext("system role", "ERP"),
        WMS: pgettext("system role", "WMS"),
        COURIER: pgettext("system role", "Courier"),
        CUSTOMER: pgettext("system role", "Customer"),
        ORDERHUB: pgettext("system role", "OrderHub"),
    }
    return str(labels.get(role, role))


@dataclass(frozen=True, slots=True)
class StoryLine:
    """One event of the order, told once.

    ``received_at`` is OrderHub's clock (received or recorded); ``source_at`` the source's,
    ``None`` when OrderHub itself is the source. ``tone`` is ``problem`` for what went wrong,
    ``action`` for what a person or the repair did, ``""`` otherwise.
    """

    received_at: datetime
    source_at: datetime | None
    system: str
    role: str
    text: str
    actor: str = ""
    tone: str = ""
    ledger_seq: int | None = None
    ledger_hash: str = ""
    raw: str = ""

    @property
    def role_label(self) -> str:
        return role_label(self.role)

    @property
    def at(self) -> datetime:
        return self.source_at or self.received_at

    @property
    def delay_seconds(self) -> float | None:
        """How long after the source's clock OrderHub learned it (negative: clocks differ)."""
        if self.source_at is None:
            return None
        return round((self.received_at - self.source_at).total_seconds(), 1)


def _separator() -> str:
    """Between the parts of one line: "; " in English, a full-width semicolon in Chinese."""
    return pgettext("list separator", "; ")


def milestone_label(value: Any) -> str:
    return str(Milestone(value).label) if value in Milestone.values else str(value or "-")


def _priority_label(value: Any) -> str:
    try:
        return str(Priority(int(value)).label)
    except (TypeError, ValueError):
        return str(value)


def _none(value: Any) -> str:
    return str(value) if value not in (None, "") else _("(none)")


# How each changed field reads in a line: label and how its values read.
def _field_change(name: str, before: Any, after: Any) -> str | None:
    labels = {
        "status": (_("status"), milestone_label),
        "warehouse": (_("warehouse"), _none),
        "carrier": (_("carrier"), _none),
        "tracking_number": (_("tracking number"), _none),
        "priority": (_("priority"), _priority_label),
        "internal_note": (_("internal note"), _none),
    }
    if name not in labels:
        return None
    label, show = labels[name]
    return _("%(label)s: %(before)s → %(after)s") % {
        "label": label,
        "before": show(before),
        "after": show(after),
    }


def _ledger_text(event: LedgerEvent) -> tuple[str, str]:
    """The line of one ledger event and its tone."""
    before, after, references = event.before or {}, event.after or {}, event.references or {}
    action = event.action
    changes = [
        change
        for name in sorted(set(before) | set(after))
        if (before.get(name) or "") != (after.get(name) or "")
        and (change := _field_change(name, before.get(name), after.get(name))) is not None
    ]
    reason = str(references.get("reason") or "")
    tone = ""
    if action == "order.created":
        text = _("Order received by OrderHub")
        changes = []
    elif action == "order.transition":
        text = _("Status changed: %(before)s → %(after)s") % {
            "before": milestone_label(before.get("status")),
            "after": milestone_label(after.get("status")),
        }
        changes = []
        tone = "action" if event.actor not in ("", event.source_system) else ""
    elif action == "order.transition_denied":
        text = _("Status change to %(target)s refused (no permission)") % {
            "target": milestone_label(after.get("requested"))
        }
        tone = "problem"
    elif action == "order.warehouse_assigned":
        text, tone = _("Warehouse assigned"), "action"
    elif action == "order.tracking_set":
        text, tone = _("Carrier and tracking number set"), "action"
    elif action == "order.priority_set":
        text, tone = _("Priority set"), "action"
    elif action == "order.note_set":
        text, tone = _("Internal note changed"), "action"
        changes = []
    elif action == "order.updated":
        text = _("Order details updated by the channel")
    elif action == "allocation.offered":
        text = _("Offered to the warehouses")
    elif action == "allocation.claimed":
        text = _("A warehouse claimed the order (pick lock)")
    elif action == "allocation.certificate_issued":
        text = _("Allocation certificate signed")
    elif action == "allocation.released":
        text, tone = _("Pick lock released"), "problem"
    elif action == "outbox.written":
        text = _("Write-back to another system queued")
    elif action == "outbound.acknowledged":
        text = _("Write-back acknowledged by the other system")
    elif action == "outbox.failed":
        text, tone = _("Write-back failed"), "problem"
    elif action == "outbox.requeued":
        text, tone = _("Write-back queued again by a person"), "action"
    elif action == "stock.reserved":
        text = _("Stock reserved")
    elif action == "stock.released":
        text = _("Stock released")
    elif action == "stock.shortage":
        text, tone = _("Stock short"), "problem"
    elif action == "order.confirmation_requested":
        text = _("Customer asked to confirm before shipping")
    elif action == "order.confirmation_reminded":
        text = _("Customer reminded to confirm")
    elif action == "order.confirmation_escalated":
        text, tone = _("Confirmation overdue, escalated"), "problem"
    elif action == "order.customer_confirmed":
        text = _("Customer confirmed the order")
    elif action == "order.customer_refused":
        text, tone = _("Customer refused the order"), "problem"
    elif action in ("order.risk_review_opened", "order.risk_review_purpose"):
        text, tone = _("Risk review opened"), "problem"
    elif action == "order.fast_lane":
        text = _("Order put in the fast lane")
    elif action == "trace.exported":
        text = _("Trace PDF exported")
    elif action == "alert.sent":
        text = _("Alert sent")
    elif action == "outbound.call":
        text = _("OrderHub called another system")
        answer = " ".join(str(after[key]) for key in ("status", "response") if after.get(key))
        if answer:
            text = _("%(text)s, answer: %(answer)s") % {"text": text, "answer": answer}
    else:
        label = ACTION_LABELS.get(action)
        text = str(label) if label is not None else action
    parts = [str(text), *changes]
    if reason and (action != "order.transition" or tone == "action"):
        parts.append(_("reason: %(reason)s") % {"reason": reason})
    return _separator().join(parts), tone


def _fact_text(fact: StatusFact, tracking: TrackingEvent | None) -> tuple[str, str]:
    role = system_role(fact.system)
    if fact.milestone:
        said = _("%(who)s reports “%(raw)s” (%(milestone)s)") % {
            "who": role_label(role),
            "raw": fact.raw_status if tracking is None else tracking.get_stage_display(),
            "milestone": milestone_label(fact.milestone),
        }
    else:
        said = _("%(who)s reports “%(raw)s”, a status with no mapping") % {
            "who": role_label(role),
            "raw": fact.raw_status,
        }
    parts = [str(said)]
    if tracking is not None and (tracking.description or tracking.location):
        parts.append(" ".join(filter(None, (tracking.location, tracking.description))))
    tone = ""
    if fact.status_before and fact.status_after and fact.status_before != fact.status_after:
        parts.append(
            _("order %(before)s → %(after)s")
            % {
                "before": milestone_label(fact.status_before),
                "after": milestone_label(fact.status_after),
            }
        )
        if fact.skipped:
            parts.append(
                _("skipped %(steps)s")
                % {"steps": ", ".join(milestone_label(step) for step in fact.skipped)}
            )
    elif fact.outcome == FactOutcome.UNMAPPED:
        tone = "problem"
    else:
        parts.append(str(fact.get_outcome_display()))
        tone = "problem" if fact.outcome == FactOutcome.CONFLICT else ""
    return _separator().join(parts), tone


def _anomaly_evidence(anomaly: Anomaly) -> str:
    """The evidence in one short phrase: its summary when it has one, else its first pairs."""
    evidence = anomaly.evidence or {}
    if not isinstance(evidence, dict):
        return str(evidence)[:200]
    summary = evidence.get("summary") or evidence.get("message")
    if summary:
        return str(summary)[:200]
    pairs = [f"{key}: {str(value)[:60]}" for key, value in sorted(evidence.items())[:4]]
    return ", ".join(pairs)


def anomaly_kind_label(kind: str) -> str:
    return str(AnomalyKind(kind).label) if kind in AnomalyKind.values else kind


def _raw_body(message: InboundMessage | None) -> str:
    if message is None:
        return ""
    text = bytes(message.body).decode("utf-8", errors="replace")
    return text if len(text) <= 20_000 else text[:20_000] + "\n…"


def story_lines(*, order: Order) -> list[StoryLine]:
    """The order's events, one line each, in the sources' time order (OrderHub's clock where
    OrderHub is the source). A fixed number of queries whatever the order holds."""
    events = list(
        LedgerEvent.objects.filter(order_id=order.pk).select_related("seal").order_by("id")
    )
    facts = list(StatusFact.objects.filter(order=order).order_by("occurred_at", "id"))
    tracking = list(TrackingEvent.objects.filter(order=order).order_by("occurred_at", "id"))
    anomalies = list(
        Anomaly.objects.filter(order_id=order.pk).select_related("resolved_by").order_by("id")
    )
    calls = list(
        OutboundCall.objects.filter(order_id_ref=order.pk)
        .select_related("account")
        .order_by("started_at", "id")
    )
    messages = {
        message.pk: message
        for message in InboundMessage.objects.filter(order_ids__contains=[order.pk]).select_related(
            "account"
        )
    }

    def seal(event: LedgerEvent | None) -> tuple[int | None, str]:
        found = getattr(event, "seal", None) if event is not None else None
        return (found.seq, found.hash) if found is not None else (None, "")

    fact_events: dict[str, LedgerEvent] = {}
    anomaly_events: dict[tuple[str, str], LedgerEvent] = {}
    fact_transitions: set[int] = set()
    lines: list[StoryLine] = []
    for event in events:
        if event.action == "fact.recorded":
            fact_events[event.subject_id] = event
        elif event.action in ("anomaly.opened", "anomaly.resolved"):
            anomaly_events[(event.action, event.subject_id)] = event
        elif event.action == "order.transition" and (event.references or {}).get("fact_id"):
            fact_transitions.add(event.pk)

    by_tracking = {(t.system, t.occurred_at, t.stage): t for t in tracking}
    told_tracking: set[int] = set()
    told_messages: set[int] = set()
    for fact in facts:
        match = by_tracking.get((fact.system, fact.occurred_at, fact.raw_status))
        if match is not None:
            told_tracking.add(match.pk)
        text, tone = _fact_text(fact, match)
        message = messages.get(fact.source_message_id or -1)
        raw = ""
        if message is not None and message.pk not in told_messages:
            told_messages.add(message.pk)
            raw = _raw_body(message)
        seq, digest = seal(fact_events.get(str(fact.pk)))
        lines.append(
            StoryLine(
                received_at=fact.received_at,
                source_at=fact.occurred_at,
                system=fact.system,
                role=system_role(fact.system),
                text=text,
                tone=tone,
                ledger_seq=seq,
                ledger_hash=digest,
                raw=raw,
            )
        )
    for tracking_event in tracking:
        if tracking_event.pk in told_tracking:
            continue
        parts = [
            str(_("Courier: %(stage)s") % {"stage": tracking_event.get_stage_display()}),
            " ".join(filter(None, (tracking_event.location, tracking_event.description))),
        ]
        lines.append(
            StoryLine(
                received_at=tracking_event.received_at,
                source_at=tracking_event.occurred_at,
                system=tracking_event.system,
                role=COURIER,
                text=_separator().join(filter(None, parts)),
                tone="problem"
                if tracking_event.stage in (TrackingStage.EXCEPTION, TrackingStage.FAILED_ATTEMPT)
                else "",
            )
        )
    for message in messages.values():
        if message.pk in told_messages:
            continue
        lines.append(
            StoryLine(
                received_at=message.received_at,
                source_at=None,
                system=message.account.system,
                role=system_role(message.account.system),
                text=str(
                    _("Message received (%(event)s): %(status)s")
                    % {
                        "event": message.event_type or "-",
                        "status": message.get_status_display(),
                    }
                ),
                raw=_raw_body(message),
            )
        )
    for call in calls:
        lines.append(
            StoryLine(
                received_at=call.started_at,
                source_at=None,
                system=call.account.system,
                role=system_role(call.account.system),
                text=str(
                    _("OrderHub told the %(who)s: %(operation)s, answer %(outcome)s")
                    % {
                        "who": role_label(system_role(call.account.system)),
                        "operation": call.operation,
                        "outcome": call.get_outcome_display(),
                    }
                ),
                tone="problem" if call.outcome in ("transient", "terminal") else "",
            )
        )
    for anomaly in anomalies:
        seq, digest = seal(anomaly_events.get(("anomaly.opened", str(anomaly.pk))))
        evidence = _anomaly_evidence(anomaly)
        opened = _("Problem found: %(kind)s") % {"kind": anomaly_kind_label(anomaly.kind)}
        lines.append(
            StoryLine(
                received_at=anomaly.opened_at,
                source_at=anomaly.evidence_at,
                system="orderhub:health",
                role=ORDERHUB,
                text=_separator().join(filter(None, (str(opened), evidence))),
                tone="problem",
                ledger_seq=seq,
                ledger_hash=digest,
            )
        )
        if anomaly.resolved_at is not None:
            seq, digest = seal(anomaly_events.get(("anomaly.resolved", str(anomaly.pk))))
            if anomaly.resolution == Resolution.MANUAL:
                text = _("Problem closed by hand: %(kind)s") % {
                    "kind": anomaly_kind_label(anomaly.kind)
                }
            else:
                text = _("Problem closed by new evidence: %(kind)s") % {
                    "kind": anomaly_kind_label(anomaly.kind)
                }
            lines.append(
                StoryLine(
                    received_at=anomaly.resolved_at,
                    source_at=None,
                    system="orderhub:health",
                    role=ORDERHUB,
                    text=_separator().join(filter(None, (str(text), anomaly.resolved_note))),
                    actor=anomaly.resolved_by.get_username() if anomaly.resolved_by else "",
                    tone="action",
                    ledger_seq=seq,
                    ledger_hash=digest,
                )
            )
    for event in events:
        if event.action in _FOLDED_ACTIONS or event.pk in fact_transitions:
            continue
        text, tone = _ledger_text(event)
        seq, digest = seal(event)
        source = event.source_system or "orderhub"
        lines.append(
            StoryLine(
                received_at=event.created_at,
                # The order's creation happened on the channel at its placing time.
                source_at=order.placed_at if event.action == "order.created" else None,
                system=source,
                role=system_role(source),
                text=text,
                actor=event.actor if event.actor != source else "",
                tone=tone,
                ledger_seq=seq,
                ledger_hash=digest,
            )
        )
    lines.sort(key=lambda line: (line.at, line.received_at, line.ledger_seq or 0))
    return lines


@dataclass(frozen=True, slots=True)
class StorySummary:
    """Three lines: where the order stands, what went wrong, what was done."""

    where: str
    wrong: str
    done: str


def story_summary(*, order: Order, lines: Iterable[StoryLine]) -> StorySummary:
    lines = list(lines)
    status = str(order.get_status_display())
    warehouse = order.warehouse.code if order.warehouse_id and order.warehouse else ""
    where = _("Now %(status)s") % {"status": status}
    if warehouse:
        where = _("%(where)s, warehouse %(warehouse)s") % {"where": where, "warehouse": warehouse}
    if order.tracking_number:
        where = _("%(where)s, waybill %(carrier)s %(number)s") % {
            "where": where,
            "carrier": order.carrier,
            "number": order.tracking_number,
        }
    problems = [line for line in lines if line.tone == "problem"]
    if problems:
        latest = problems[-1]
        wrong = _("%(count)d problem(s); latest: %(text)s") % {
            "count": len(problems),
            "text": latest.text,
        }
    else:
        wrong = _("Nothing went wrong.")
    actions = [line for line in lines if line.tone == "action"]
    if actions:
        latest = actions[-1]
        who = f" ({latest.actor})" if latest.actor else ""
        done = _("%(count)d action(s); latest: %(text)s%(who)s") % {
            "count": len(actions),
            "text": latest.text,
            "who": who,
        }
    else:
        done = _("No action was needed.")
    return StorySummary(where=str(where), wrong=str(wrong), done=str(done))
