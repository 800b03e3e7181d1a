"""Auto-repair: a typed registry of actions tied to rule kinds, run once per anomaly after it
opens (``health.repair_tasks.anomaly_repair_task``, queued on the engine's commit through
``orderhub.effects.task_on_commit``; a beat sweep runs the ones a broker outage left behind).

An action does something about the gap (a write-back sent again, the courier queried, an
intercept request to the warehouse, a replenishment work order and another warehouse, the
waiting facts re-applied) and reports what the other side answered. It never resolves the
anomaly itself: the answer, when it is new evidence that the gap is closed (an acknowledged
write-back, a carrier scan, the warehouse's confirmed intercept, a reservation), arrives as a
fact and the engine's normal re-evaluation resolves the anomaly (resolution ``auto``,
``resolved_by_action`` = the action). If the anomaly is still open once the action finished,
it is escalated: ``Anomaly.escalate_at`` is set (people are to be alerted from then on) and the
action's entry says ``"escalated": true``.

Each run appends one entry to ``Anomaly.actions`` before it acts (``outcome: started``) and
completes it afterwards (``finished_at``, ``outcome``, ``detail``, ``escalated``); the calls
out are ``OutboundCall`` rows, and ``anomaly.repair`` ledger events record every run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from channels_app.http import PlatformError, TerminalError, TransientError
from channels_app.models import ChannelAccount, OutboxEntry, OutboxStatus
from channels_app.outbound.base import ACTION_INTERCEPT, ACTION_SHIP, writers
from channels_app.outbound.relay import outbox_claim, outbox_entry_relay
from channels_app.outbound.services import outbox_entry_requeue, outbox_entry_write
from channels_app.pull.courier_poll import kuaidi100_query_now
from channels_app.services.mapping import status_map_for_kind
from health.models import Anomaly, ReplenishmentOrder, ReplenishmentStatus
from orderhub.choices import CARRIER_SCANNED, Milestone
from orderhub.models import Order, OrderLine, StockLevel, StockShortage, TrackingEvent, Warehouse
from orderhub.registry import Registry
from orderhub.services.actions import order_warehouse_assign
from orderhub.services.facts import status_facts_reapply
from orderhub.services.stock import stock_reserve_for_order
from traceability.services import ledger_append

logger = logging.getLogger(__name__)

REPAIR_ACTOR = "orderhub:repair"
STARTED = "started"


@dataclass(frozen=True, slots=True)
class RepairTarget:
    """What an action is given: the anomaly as it was when the action started."""

    anomaly_id: int
    kind: str
    order_id: int | None
    evidence: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RepairOutcome:
    """How the other side answered (``outcome`` a short word, ``detail`` JSON values)."""

    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


RepairFunction = Callable[[RepairTarget], RepairOutcome]


@dataclass(frozen=True, slots=True)
class Repair:
    kind: str
    name: str
    function: RepairFunction


repairs: Registry[Repair] = Registry("auto-repair actions")


def repair(kind: str, *, name: str) -> Callable[[RepairFunction], RepairFunction]:
    """Register ``function`` as the repair of anomalies of ``kind`` (one per kind)."""

    def decorator(function: RepairFunction) -> RepairFunction:
        repairs.add(kind, Repair(kind=kind, name=name, function=function))
        return function

    return decorator


# --- the runner ----------------------------------------------------------------------------


@transaction.atomic
def _repair_start(anomaly_id: int, *, now: datetime) -> tuple[Repair, RepairTarget] | None:
    """Record that the repair starts (the entry exists before anything is called), or None
    when there is nothing to do: resolved, no repair for the kind, or tried already."""
    anomaly = Anomaly.objects.select_for_update().filter(pk=anomaly_id).first()
    if anomaly is None or anomaly.resolved_at is not None or anomaly.kind not in repairs:
        return None
    entry = repairs.get(anomaly.kind)
    if any(action.get("action") == entry.name for action in anomaly.actions):
        return None
    anomaly.actions = [
        *anomaly.actions,
        {"action": entry.name, "started_at": now.isoformat(), "outcome": STARTED},
    ]
    anomaly.save(update_fields=["actions"])
    return entry, RepairTarget(anomaly.pk, anomaly.kind, anomaly.order_id, dict(anomaly.evidence))


@transaction.atomic
def _repair_finish(anomaly_id: int, *, name: str, outcome: RepairOutcome) -> bool:
    """Complete the action's entry; escalate if the anomaly is still open. Returns whether
    it was escalated."""
    anomaly = Anomaly.objects.select_for_update().get(pk=anomaly_id)
    now = timezone.now()
    escalated = anomaly.resolved_at is None
    actions = list(anomaly.actions)
    index = max(i for i, action in enumerate(actions) if action.get("action") == name)
    actions[index] = {
        **actions[index],
        "finished_at": now.isoformat(),
        "outcome": outcome.outcome,
        "detail": outcome.detail,
        "escalated": escalated,
    }
    anomaly.actions = actions
    fields = ["actions"]
    if escalated and anomaly.escalate_at is None:
        anomaly.escalate_at = now
        fields.append("escalate_at")
    anomaly.save(update_fields=fields)
    ledger_append(
        action="anomaly.repair",
        actor=REPAIR_ACTOR,
        order_id=anomaly.order_id,
        subject_type="anomaly",
        subject_id=anomaly.pk,
        source_system=REPAIR_ACTOR,
        after={
            "kind": anomaly.kind,
            "action": name,
            "outcome": outcome.outcome,
            "escalated": escalated,
            "resolved": anomaly.resolved_at is not None,
        },
        references={"detail": outcome.detail},
    )
    return escalated


def anomaly_repair_run(*, anomaly_id: int) -> str:
    """Run the repair of one anomaly once (a second run does nothing: ``skipped``); returns
    the outcome. Must run outside a transaction: actions call other systems. An action that
    fails in an unforeseen way is recorded as outcome ``error`` (and escalates)."""
    started = _repair_start(anomaly_id, now=timezone.now())
    if started is None:
        return "skipped"
    entry, target = started
    try:
        outcome = entry.function(target)
    except Exception as exc:
        logger.exception("health.repair_failed anomaly=%s action=%s", anomaly_id, entry.name)
        outcome = RepairOutcome("error", {"error": f"{type(exc).__name__}: {exc}"[:500]})
    _repair_finish(anomaly_id, name=entry.name, outcome=outcome)
    return outcome.outcome


def anomaly_repairs_pending(*, limit: int = 50) -> int:
    """The sweep: open anomalies of a kind with a repair that no repair has touched yet
    (their task was lost), oldest first; runs each. Returns how many ran. Nothing while
    ``HEALTH_AUTO_REPAIR`` is off."""
    if not settings.HEALTH_AUTO_REPAIR:
        return 0
    ids = list(
        Anomaly.objects.filter(resolved_at__isnull=True, kind__in=list(repairs), actions=[])
        .order_by("opened_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(anomaly_repair_run(anomaly_id=pk) != "skipped" for pk in ids)


# --- the actions ---------------------------------------------------------------------------


def _relay_now(entry_id: int) -> OutboxEntry:
    """Send one write-back now (if no other relay holds it) and return it as it ended."""
    if outbox_claim(limit=1, entry_id=entry_id):
        outbox_entry_relay(entry_id=entry_id)
    return OutboxEntry.objects.select_related("account").get(pk=entry_id)


def _entry_detail(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "outbox_entry": entry.pk,
        "account": entry.account.code,
        "status": entry.status,
        "attempts": entry.attempts,
        "error": entry.last_error[:300],
    }


@repair("sync_lag", name="writeback_resend")
def writeback_resend(target: RepairTarget) -> RepairOutcome:
    """Push the missing status to the channel again: the order's ship confirmation is put
    back in the outbox (``outbox_entry_requeue``; written first if it never was) and sent at
    once. The acknowledgement is the channel's fact that closes the gap."""
    order = Order.objects.get(pk=target.order_id)
    account = ChannelAccount.objects.filter(code=order.channel, enabled=True).first()
    if account is None or account.kind not in writers:
        return RepairOutcome("no_writeback", {"channel": order.channel})
    entry_id = (
        OutboxEntry.objects.filter(order=order, account=account, action=ACTION_SHIP)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    if entry_id is None:
        entry_id = outbox_entry_write(
            account_id=account.pk,
            order_id=order.pk,
            action=ACTION_SHIP,
            milestone=Milestone.WAYBILL_ISSUED,
            source=REPAIR_ACTOR,
        )
    else:
        outbox_entry_requeue(entry_id=entry_id)
    entry = _relay_now(entry_id)
    return RepairOutcome(str(entry.status), _entry_detail(entry))


@repair("ghost_shipment", name="courier_query")
def courier_query(target: RepairTarget) -> RepairOutcome:
    """Ask the courier (Kuaidi100's real-time query) for the waybill's trace now; the trace
    is stored through the normal tracking path, so a scan found closes the gap."""
    order = Order.objects.get(pk=target.order_id)
    if not order.tracking_number:
        return RepairOutcome("no_waybill")
    try:
        answer = kuaidi100_query_now(
            order_id=order.pk, carrier=order.carrier, tracking_number=order.tracking_number
        )
    except LookupError as exc:
        return RepairOutcome("no_courier_account", {"error": str(exc)})
    except (TransientError, TerminalError, PlatformError) as exc:
        return RepairOutcome(
            "query_failed", {"tracking_number": order.tracking_number, "error": str(exc)[:300]}
        )
    scanned = TrackingEvent.objects.filter(
        order=order, tracking_number=order.tracking_number, stage__in=list(CARRIER_SCANNED)
    ).exists()
    return RepairOutcome(
        "scanned" if scanned else ("no_scan" if answer.found else "no_trace"),
        {
            "account": answer.account_code,
            "tracking_number": order.tracking_number,
            "events": answer.events,
        },
    )


def _working_warehouse_systems(evidence: Mapping[str, Any]) -> list[str]:
    """Account codes of the warehouse systems whose facts are in the conflict."""
    codes = {
        str(fact.get("system", "")).split(":", 1)[-1]
        for fact in evidence.get("facts", [])
        if str(fact.get("system", "")).startswith("wms:")
        and fact.get("milestone") != Milestone.CANCELLED
    }
    return sorted(codes)


@repair("status_conflict", name="warehouse_intercept")
def warehouse_intercept(target: RepairTarget) -> RepairOutcome:
    """The order was cancelled while a warehouse works on it: send the warehouse's system an
    intercept request (an outbox write-back to the WMS, sent at once). The WMS's confirmed
    intercept is its fact that the order is cancelled there, which closes the gap."""
    order = Order.objects.get(pk=target.order_id)
    if order.status != Milestone.CANCELLED:
        return RepairOutcome("not_cancelled", {"order_status": order.status})
    codes = _working_warehouse_systems(target.evidence)
    accounts = list(ChannelAccount.objects.filter(kind="wms", code__in=codes, enabled=True))
    if not accounts:
        return RepairOutcome("no_warehouse_system", {"systems": codes})
    sent = []
    for account in sorted(accounts, key=lambda a: a.code):
        entry_id = outbox_entry_write(
            account_id=account.pk,
            order_id=order.pk,
            action=ACTION_INTERCEPT,
            milestone=Milestone.CANCELLED,
            source=REPAIR_ACTOR,
            extra={"reason": f"cancelled on {order.channel}"},
        )
        sent.append(_relay_now(entry_id))
    done = all(entry.status == OutboxStatus.ACKNOWLEDGED for entry in sent)
    return RepairOutcome(
        "intercepted" if done else "refused", {"requests": [_entry_detail(e) for e in sent]}
    )


def _safety_stock(channel: str) -> int:
    from health.selectors import rule_config_load

    return int(rule_config_load().params_for("stock_shortage", channel)["safety_stock"])


@repair("stock_shortage", name="replenish_and_reassign")
def replenish_and_reassign(target: RepairTarget) -> RepairOutcome:
    """Create a replenishment work order per short SKU (the missing quantity plus the
    rule's ``safety_stock``, so the warehouse ends at its safety-stock level once the order
    is served), then move the order to the first other active warehouse (by code) that has
    every line available and reserve there. The reservation closes the gap."""
    order = Order.objects.get(pk=target.order_id)
    shortages = list(
        StockShortage.objects.filter(order=order, resolved_at__isnull=True).order_by("sku")
    )
    if not shortages:
        return RepairOutcome("no_shortage")
    work_orders = _replenishments_create(target, order, shortages, _safety_stock(order.channel))
    wanted = dict(
        OrderLine.objects.filter(order=order)
        .values("sku")
        .annotate(quantity=Sum("quantity"))
        .order_by("sku")
        .values_list("sku", "quantity")
    )
    short_in = {shortage.warehouse_id for shortage in shortages}
    available: dict[int, dict[str, int]] = defaultdict(dict)
    for warehouse_id, sku, on_hand, reserved in StockLevel.objects.filter(
        sku__in=wanted, warehouse__is_active=True
    ).values_list("warehouse_id", "sku", "on_hand", "reserved"):
        available[warehouse_id][sku] = on_hand - reserved
    candidates = [
        (code, pk)
        for pk, code in Warehouse.objects.filter(is_active=True)
        .exclude(pk__in=short_in)
        .values_list("pk", "code")
        if all(available[pk].get(sku, 0) >= quantity for sku, quantity in wanted.items())
    ]
    detail: dict[str, Any] = {"replenishments": work_orders}
    if not candidates:
        return RepairOutcome("no_other_warehouse", detail)
    code, _pk = min(candidates)
    order_warehouse_assign(
        order_id=order.pk,
        warehouse_code=code,
        user=None,
        source=REPAIR_ACTOR,
        reason=f"stock_shortage anomaly {target.anomaly_id}: stock available in {code}",
    )
    result = stock_reserve_for_order(order_id=order.pk)
    return RepairOutcome(
        "reassigned" if result == "reserved" else result, {**detail, "warehouse": code}
    )


@transaction.atomic
def _replenishments_create(
    target: RepairTarget, order: Order, shortages: list[StockShortage], safety_stock: int
) -> list[dict[str, Any]]:
    """One open work order per (warehouse, SKU): an open one is reused, not doubled."""
    made = []
    for shortage in shortages:
        level = StockLevel.objects.filter(
            warehouse_id=shortage.warehouse_id, sku=shortage.sku
        ).first()
        available = level.on_hand - level.reserved if level is not None else 0
        work_order = (
            ReplenishmentOrder.objects.select_for_update()
            .filter(
                warehouse_id=shortage.warehouse_id,
                sku=shortage.sku,
                status=ReplenishmentStatus.OPEN,
            )
            .first()
        )
        created = work_order is None
        if work_order is None:
            work_order = ReplenishmentOrder.objects.create(
                warehouse_id=shortage.warehouse_id,
                sku=shortage.sku,
                quantity=shortage.missing + safety_stock,
                safety_stock=safety_stock,
                available=available,
                anomaly_id=target.anomaly_id,
                order=order,
            )
            ledger_append(
                action="replenishment.created",
                actor=REPAIR_ACTOR,
                order_id=order.pk,
                subject_type="replenishment_order",
                subject_id=work_order.pk,
                source_system=REPAIR_ACTOR,
                after={
                    "warehouse": shortage.warehouse.code,
                    "sku": shortage.sku,
                    "quantity": work_order.quantity,
                    "safety_stock": safety_stock,
                    "available": available,
                },
                references={"anomaly": target.anomaly_id},
            )
        made.append(
            {
                "replenishment_order": work_order.pk,
                "warehouse": shortage.warehouse.code,
                "sku": shortage.sku,
                "quantity": work_order.quantity,
                "created": created,
            }
        )
    return made


@repair("unmapped_status", name="reapply_waiting_facts")
def reapply_waiting_facts(target: RepairTarget) -> RepairOutcome:
    """Re-apply the facts waiting on a raw status that has a mapping by now. One without a
    mapping needs a person: once they map it, the mapping service re-applies the waiting
    facts (``status_mapping_save``) and the anomaly resolves with this action."""
    applied, waiting = 0, []
    for fact in target.evidence.get("facts", []):
        kind = str(fact.get("system", "")).split(":", 1)[0]
        raw = str(fact.get("raw_status", ""))
        milestone = status_map_for_kind(kind=kind).get(raw)
        if milestone:
            applied += status_facts_reapply(
                system_prefix=f"{kind}:", raw_status=raw, milestone=milestone
            )
        else:
            waiting.append(f"{kind}:{raw}")
    return RepairOutcome(
        "reapplied" if applied and not waiting else "waiting_for_mapping",
        {"applied": applied, "unmapped": sorted(set(waiting))},
    )
