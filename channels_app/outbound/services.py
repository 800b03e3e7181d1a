"""Write-back: the outbox rows a flush's transitions call for, written in its transaction.

The transition hook (``channels_app.outbound.hooks``) hands the flush's frozen
``TransitionEvent``s to ``outbox_entries_for_transitions``, which writes an ``OutboxEntry``
(unique idempotency key) per receiving system with the orders locked and queues the relay on
commit through ``orderhub.effects.task_on_commit``. If the broker cannot take the message the
committed row stays ``pending`` and the beat sweep sends it (``channels_app.outbound.relay``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.models import ChannelAccount, OutboxEntry, OutboxStatus
from channels_app.outbound.base import ACTION_INTERCEPT, ACTION_SHIP, writers
from channels_app.outbound.relay import account_system
from channels_app.outbound.tasks import outbox_relay_task
from orderhub.choices import Milestone
from orderhub.effects import task_on_commit
from orderhub.hooks import OrderSnapshot, TransitionEvent
from traceability.services import LedgerEventIn, ledger_append, ledger_append_many

# Kinds that are the merchant's ERP/WMS: they learn payments and cancellations (intercepts).
ERP_KINDS = frozenset({"kingdee_k3"})
ERP_MILESTONES: dict[str, str] = {
    Milestone.PAID: "order_paid",
    Milestone.CANCELLED: ACTION_INTERCEPT,
}


@dataclass(frozen=True, slots=True)
class _Target:
    account: ChannelAccount
    order: OrderSnapshot
    action: str
    milestone: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.account.code}:{self.order.id}:{self.action}:{self.milestone}"


def _write_many(targets: list[_Target]) -> list[int]:
    """The outbox rows of ``targets`` not written before, and their ledger events: three
    statements however many there are. Runs with the orders locked, so no other transaction
    writes the same keys meanwhile."""
    if not targets:
        return []
    stored = set(
        OutboxEntry.objects.filter(
            idempotency_key__in=[target.key for target in targets]
        ).values_list("idempotency_key", flat=True)
    )
    now = timezone.now()
    new: list[tuple[_Target, OutboxEntry]] = []
    for target in targets:
        if target.key in stored:
            continue
        stored.add(target.key)
        order = target.order
        payload = {
            "channel": order.channel,
            "external_id": order.external_id,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "shipped_at": now.isoformat(),
        }
        entry = OutboxEntry(
            idempotency_key=target.key,
            account=target.account,
            order_id=order.id,
            action=target.action,
            milestone=target.milestone,
            payload=payload,
            next_attempt_at=now,
        )
        new.append((target, entry))
    OutboxEntry.objects.bulk_create([entry for _target, entry in new])
    ledger_append_many(
        events=[
            LedgerEventIn(
                action="outbox.written",
                actor=target.source,
                order_id=target.order.id,
                subject_type="outbox_entry",
                subject_id=entry.pk,
                source_system=account_system(target.account),
                after={"action": target.action, "milestone": target.milestone},
                references={"idempotency_key": target.key, "caused_by": target.source},
            )
            for target, entry in new
        ]
    )
    return [entry.pk for _target, entry in new]


def outbox_entries_for_transitions(transitions: Sequence[TransitionEvent]) -> list[int]:
    """Write the outbox rows the transitions of one flush call for; the relay is queued on
    commit.

    Precondition: inside the transitions' transaction with their orders locked (no I/O here).
    ``waybill_issued`` → the order's channel gets the tracking number; ``paid`` and
    ``cancelled`` → every ERP account gets the order or an intercept. A system is never told
    what it said itself. Idempotent per (account, order, action, milestone). The accounts are
    read once per call, however many transitions it carries.
    """
    relevant = [
        t for t in transitions if t.after in ERP_MILESTONES or t.after == Milestone.WAYBILL_ISSUED
    ]
    if not relevant:
        return []
    channel_codes = {t.order.channel for t in relevant if t.after == Milestone.WAYBILL_ISSUED}
    channels = (
        {
            account.code: account
            for account in ChannelAccount.objects.filter(code__in=channel_codes, enabled=True)
        }
        if channel_codes
        else {}
    )
    erps = (
        list(ChannelAccount.objects.filter(kind__in=ERP_KINDS, enabled=True).order_by("pk"))
        if any(t.after in ERP_MILESTONES for t in relevant)
        else []
    )
    targets: list[_Target] = []
    for transition in relevant:
        order, after, source = transition.order, transition.after, transition.source
        if after == Milestone.WAYBILL_ISSUED:
            channel = channels.get(order.channel)
            if (
                channel is not None
                and channel.kind in writers
                and (channel.options or {}).get("writeback") != "off"  # option, see accounts.py
                and channel.kind not in ERP_KINDS
                and source != account_system(channel)
            ):
                targets.append(_Target(channel, order, ACTION_SHIP, after, source))
        if after in ERP_MILESTONES:
            targets.extend(
                _Target(erp, order, ERP_MILESTONES[after], after, source)
                for erp in erps
                if source != account_system(erp) and (erp.options or {}).get("writeback") != "off"
            )
    created = _write_many(targets)
    for entry_id in created:
        task_on_commit(outbox_relay_task, entry_id=entry_id)
    return created


@transaction.atomic
def outbox_entry_write(
    *,
    account_id: int,
    order_id: int,
    action: str,
    milestone: str,
    source: str,
    extra: dict[str, Any] | None = None,
) -> int:
    """One write-back asked for outside a transition (e.g. a repair's intercept request): the
    outbox row (idempotent per account, order, action and milestone: the existing row's id is
    returned), its ``outbox.written`` event and the relay queued on commit. Locks the order."""
    from orderhub.models import Order

    account = ChannelAccount.objects.get(pk=account_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    snapshot = OrderSnapshot(
        id=order.pk, channel=order.channel, external_id=order.external_id, status=order.status,
        warehouse_id=order.warehouse_id,
        warehouse_code=order.warehouse.code if order.warehouse_id else "",
        carrier=order.carrier, tracking_number=order.tracking_number, priority=order.priority,
        order_type=order.order_type, placed_at=order.placed_at, paid_at=order.paid_at,
        ship_by=order.ship_by, shipped_at=order.shipped_at, delivered_at=order.delivered_at,
        status_changed_at=order.status_changed_at,
    )  # fmt: skip
    target = _Target(account, snapshot, action, milestone, source)
    existing = (
        OutboxEntry.objects.filter(idempotency_key=target.key).values_list("pk", flat=True).first()
    )
    if existing is not None:
        return existing
    (entry_id,) = _write_many([target])
    if extra:
        entry = OutboxEntry.objects.get(pk=entry_id)
        entry.payload = {**entry.payload, **extra}
        entry.save(update_fields=["payload"])
    task_on_commit(outbox_relay_task, entry_id=entry_id)
    return entry_id


@transaction.atomic
def outbox_entry_requeue(*, entry_id: int, user: Any | None = None) -> OutboxEntry:
    """ "Send again": put a failed or parked entry back in the queue (not an acknowledged one)
    with its attempts counted afresh.

    Safe: the writers check the platform before re-sending, so a duplicate cannot result.
    """
    entry = OutboxEntry.objects.select_for_update().get(pk=entry_id)
    if entry.status == OutboxStatus.ACKNOWLEDGED:
        return entry
    before = entry.status
    entry.status = OutboxStatus.PENDING
    entry.next_attempt_at = timezone.now()
    entry.lease_until = None
    entry.attempts = 0
    entry.save(update_fields=["status", "next_attempt_at", "lease_until", "attempts"])
    ledger_append(
        action="outbox.requeued",
        actor=user.get_username() if user is not None else "system",
        order_id=entry.order_id,
        subject_type="outbox_entry",
        subject_id=entry.pk,
        before={"status": before},
        after={"status": entry.status},
    )
    task_on_commit(outbox_relay_task, entry_id=entry.pk)
    return entry
