"""Write-back: outbox rows written in the transition's transaction, sent by a relay.

The transition hook writes an ``OutboxEntry`` (unique idempotency key) with the order locked
and queues the relay on commit. The relay claims entries with ``FOR UPDATE SKIP LOCKED`` and
a lease, calls the platform OUTSIDE any transaction, logs every HTTP attempt
(``OutboundCall``), and on acknowledgement records a status fact for the receiving system.
A relay killed mid-call leaves the entry ``sending``; once the lease expires another relay
sends again, and the writer's "check before re-send" (or the platform's own idempotency)
keeps the effect single.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels_app.http import (
    HttpClient,
    PlatformError,
    TerminalError,
    TransientError,
)
from channels_app.models import ChannelAccount, OutboundOutcome, OutboxEntry, OutboxStatus
from channels_app.outbound.base import ACTION_INTERCEPT, ACTION_SHIP, WriteRequest, writers
from channels_app.outbound.calls import OutboundCallRecorder
from channels_app.pull.services import channel_account_attention_mark
from channels_app.selectors import account_config
from orderhub.choices import Milestone
from orderhub.domain import StatusFactIn
from orderhub.effects import call_on_commit
from orderhub.models import Order
from orderhub.services import status_fact_record
from orderhub.services.work import Transition
from traceability.services import LedgerEventIn, ledger_append, ledger_append_many

logger = logging.getLogger(__name__)

# Kinds that are the merchant's ERP/WMS: they learn payments and cancellations (intercepts).
ERP_KINDS = frozenset({"kingdee_k3"})
ERP_MILESTONES: dict[str, str] = {
    Milestone.PAID: "order_paid",
    Milestone.CANCELLED: ACTION_INTERCEPT,
}
_TABLE = OutboxEntry._meta.db_table


def _lease_seconds() -> int:
    return int(getattr(settings, "OUTBOX_LEASE_SECONDS", 30))


def _max_attempts() -> int:
    return int(getattr(settings, "OUTBOX_MAX_ATTEMPTS", 8))


def _system(account: ChannelAccount) -> str:
    return f"{account.kind}:{account.code}"


@dataclass(frozen=True, slots=True)
class _Target:
    account: ChannelAccount
    order: Order
    action: str
    milestone: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.account.code}:{self.order.pk}:{self.action}:{self.milestone}"


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
            order=order,
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
                order_id=target.order.pk,
                subject_type="outbox_entry",
                subject_id=entry.pk,
                source_system=_system(target.account),
                after={"action": target.action, "milestone": target.milestone},
                references={"idempotency_key": target.key, "caused_by": target.source},
            )
            for target, entry in new
        ]
    )
    return [entry.pk for _target, entry in new]


def outbox_entries_for_transitions(transitions: Sequence[Transition]) -> list[int]:
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
                and source != _system(channel)
            ):
                targets.append(_Target(channel, order, ACTION_SHIP, after, source))
        if after in ERP_MILESTONES:
            targets.extend(
                _Target(erp, order, ERP_MILESTONES[after], after, source)
                for erp in erps
                if source != _system(erp) and (erp.options or {}).get("writeback") != "off"
            )
    created = _write_many(targets)
    if created:
        from channels_app.outbound.tasks import outbox_relay_task

        call_on_commit(
            lambda: [outbox_relay_task.apply_async(kwargs={"entry_id": i}) for i in created]
        )
    return created


_CLAIM = f"""
UPDATE {_TABLE}
SET status = 'sending', lease_until = clock_timestamp() + make_interval(secs => %s),
    attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {_TABLE}
    WHERE (%s::bigint IS NULL OR id = %s::bigint)
      AND ((status IN ('pending', 'retry') AND next_attempt_at <= clock_timestamp())
           OR (status = 'sending' AND lease_until < clock_timestamp()))
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT %s
)
RETURNING id
"""  # noqa: S608 - only the table name (a model constant) is interpolated


def outbox_claim(*, limit: int, entry_id: int | None = None) -> list[int]:
    """Lease due entries (or the one ``entry_id`` if due) to the caller; ids ascending.

    Due: pending/retry whose time has come, or sending whose lease expired (its relay died).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM, [_lease_seconds(), entry_id, entry_id, limit])
        return sorted(row[0] for row in cursor.fetchall())


@transaction.atomic
def _finish(entry_id: int, *, status: str, error: str = "", delay: float | None = None) -> str:
    entry = OutboxEntry.objects.select_for_update().get(pk=entry_id)
    if entry.status != OutboxStatus.SENDING:
        return entry.status
    entry.status = status
    entry.last_error = error[:2000]
    entry.lease_until = None
    if delay is not None:
        entry.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    entry.save(update_fields=["status", "last_error", "lease_until", "next_attempt_at"])
    if status == OutboxStatus.FAILED:
        ledger_append(
            action="outbox.failed",
            actor="relay",
            order_id=entry.order_id,
            subject_type="outbox_entry",
            subject_id=entry.pk,
            after={"error": entry.last_error, "attempts": entry.attempts},
        )
    return status


@transaction.atomic
def outbox_entry_acknowledge(
    *, entry_id: int, already_done: bool, remote_ref: str, raw_status: str
) -> str:
    """Close an entry the platform acknowledged and record the receiving system's fact.

    The fact (system = the account's system, milestone = the entry's) shows the write-back
    arrived; it never moves the order backwards. Idempotent: a closed entry stays closed.
    """
    entry = OutboxEntry.objects.select_for_update().select_related("account").get(pk=entry_id)
    if entry.status == OutboxStatus.ACKNOWLEDGED:
        return entry.status
    now = timezone.now()
    entry.status = OutboxStatus.ACKNOWLEDGED
    entry.acknowledged_at = now
    entry.remote_ref = remote_ref[:255]
    entry.lease_until = None
    entry.last_error = ""
    entry.save(
        update_fields=["status", "acknowledged_at", "remote_ref", "lease_until", "last_error"]
    )
    system = _system(entry.account)
    ledger_append(
        action="outbound.acknowledged",
        actor="relay",
        order_id=entry.order_id,
        subject_type="outbox_entry",
        subject_id=entry.pk,
        source_system=system,
        after={"action": entry.action, "already_done": already_done, "attempts": entry.attempts},
        references={"idempotency_key": entry.idempotency_key, "remote_ref": entry.remote_ref},
    )
    status_fact_record(
        order_id=entry.order_id,
        fact=StatusFactIn(
            system=system,
            raw_status=f"ack:{entry.action}",
            milestone=entry.milestone,
            occurred_at=now,
            note=f"write-back acknowledged ({raw_status or entry.action})",
        ),
    )
    return entry.status


def _retry_delay(attempts: int, asked: float | None = None) -> float:
    return max(asked or 0.0, min(2**attempts, 600) * (0.5 + random.random()))


def outbox_entry_send(*, entry_id: int) -> str:
    """Send one claimed entry (status ``sending``) and record how it ended; returns status.

    Must run outside a transaction. Transient failures retry with backoff and jitter up to
    ``OUTBOX_MAX_ATTEMPTS``; refused credentials flag the account and park the entry until it
    is fixed; a business refusal fails the entry with the platform's message.
    """
    entry = OutboxEntry.objects.select_related("account", "order").filter(pk=entry_id).first()
    if entry is None or entry.status != OutboxStatus.SENDING:
        return entry.status if entry else ""
    account = entry.account
    if account.needs_attention or not account.enabled:
        return _finish(
            entry_id, status=OutboxStatus.RETRY, error="account needs attention", delay=900
        )
    payload: dict[str, Any] = dict(entry.payload)
    # A tracking number that arrived after the transition is still sent.
    payload["tracking_number"] = payload.get("tracking_number") or entry.order.tracking_number
    payload["carrier"] = payload.get("carrier") or entry.order.carrier
    recorder = OutboundCallRecorder(
        account_id=account.pk, outbox_id=entry.pk, order_id=entry.order_id
    )
    http = HttpClient(recorder=recorder, max_attempts=3, max_wait=4.0)
    request = WriteRequest(
        action=entry.action,
        milestone=entry.milestone,
        external_id=entry.order.external_id,
        payload=payload,
        idempotency_key=entry.idempotency_key,
        attempt=entry.attempts,
    )
    try:
        result = writers.get(account.kind)(account_config(account), http, request)
    except TerminalError as exc:
        recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
        channel_account_attention_mark(account_id=account.pk, reason=str(exc))
        return _finish(entry_id, status=OutboxStatus.RETRY, error=str(exc), delay=900)
    except TransientError as exc:
        if entry.attempts >= _max_attempts():
            return _finish(
                entry_id,
                status=OutboxStatus.FAILED,
                error=f"gave up after {entry.attempts} attempts: {exc}",
            )
        return _finish(
            entry_id,
            status=OutboxStatus.RETRY,
            error=str(exc),
            delay=_retry_delay(entry.attempts, exc.retry_after),
        )
    except PlatformError as exc:
        recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
        return _finish(entry_id, status=OutboxStatus.FAILED, error=str(exc))
    if result.already_done:
        recorder.mark_last(OutboundOutcome.ALREADY_DONE)
    logger.info(
        "channels.outbound.acknowledged entry=%s already_done=%s", entry_id, result.already_done
    )
    return outbox_entry_acknowledge(
        entry_id=entry_id,
        already_done=result.already_done,
        remote_ref=result.remote_ref,
        raw_status=result.raw_status,
    )


def outbox_relay_pending(*, limit: int = 50) -> int:
    """Claim due entries (including ones whose relay died) and send each; returns how many."""
    handled = 0
    for entry_id in outbox_claim(limit=limit):
        outbox_entry_send(entry_id=entry_id)
        handled += 1
    return handled


@transaction.atomic
def outbox_entry_requeue(*, entry_id: int, user: Any | None = None) -> OutboxEntry:
    """ "Send again": put a failed or parked entry back in the queue (not an acknowledged one).

    Safe: the writers check the platform before re-sending, so a duplicate cannot result.
    """
    entry = OutboxEntry.objects.select_for_update().get(pk=entry_id)
    if entry.status == OutboxStatus.ACKNOWLEDGED:
        return entry
    before = entry.status
    entry.status = OutboxStatus.PENDING
    entry.next_attempt_at = timezone.now()
    entry.lease_until = None
    entry.save(update_fields=["status", "next_attempt_at", "lease_until"])
    ledger_append(
        action="outbox.requeued",
        actor=user.get_username() if user is not None else "system",
        order_id=entry.order_id,
        subject_type="outbox_entry",
        subject_id=entry.pk,
        before={"status": before},
        after={"status": entry.status},
    )
    from channels_app.outbound.tasks import outbox_relay_task

    call_on_commit(lambda: outbox_relay_task.apply_async(kwargs={"entry_id": entry.pk}))
    return entry
