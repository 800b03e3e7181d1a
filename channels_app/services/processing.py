"""Processing stored inbox messages: claim with a lease, then one transaction per message.

At-least-once delivery, exactly-once effect: everything a message changes (orders, lines,
facts, ledger events, the message's own status) commits together, so a worker killed in the
middle leaves the message ``processing`` with an expiring lease; another worker claims it
again after ``INBOX_LEASE_SECONDS`` and the effect happens once.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import InvalidOperation
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from channels_app.adapters.base import AccountConfig, NormalizeError, adapters
from channels_app.crypto import SecretsDecryptError
from channels_app.models import ChannelAccount, CredibilityRule, InboundMessage, InboxStatus
from channels_app.parsing import PayloadError, payload_parse
from channels_app.selectors import account_config
from channels_app.services.credibility import (
    PendingOrders,
    credibility_reason,
    credibility_rules_for,
)
from channels_app.services.feedback import feedback_from_messages
from channels_app.services.mapping import status_map_for_kind
from orderhub.choices import VOIDED_WAYBILL_STATES
from orderhub.domain import NormalizedOrder, NormalizedTracking
from orderhub.exceptions import OrderConflictError, OrderDataError, OrderError
from orderhub.services.lifecycle import actor_label
from orderhub.services.orders import UpsertItem, orders_upsert_locked
from orderhub.services.tracking import tracking_record_locked
from orderhub.services.work import OrderWork
from orderhub.sql import prepared_cursor, rows_update
from orderhub.validation import normalized_order_check, normalized_tracking_check
from traceability.services import LedgerEventIn, ledger_append

logger = logging.getLogger(__name__)

# Errors worth another attempt: the database was busy, gone, deadlocked, or raced us.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    IntegrityError,
    OrderConflictError,
    SecretsDecryptError,  # our key configuration, fixable: keep the message, try again later
)
# Errors an adapter raises on a payload it cannot read: the same payload fails the same way.
ADAPTER_DATA_ERRORS: tuple[type[BaseException], ...] = (
    NormalizeError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    InvalidOperation,
    OverflowError,  # e.g. 9999-12-31T23:59:59-14:00 converted to UTC
)

_CLAIM = f"""
UPDATE {InboundMessage._meta.db_table}
SET status = 'processing', lease_until = clock_timestamp() + make_interval(secs => %s),
    attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {InboundMessage._meta.db_table}
    WHERE (status IN ('pending', 'retry') AND next_attempt_at <= clock_timestamp())
       OR (status = 'processing' AND lease_until < clock_timestamp())
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT %s
)
RETURNING id
"""  # noqa: S608 - only the table name (a model constant) is interpolated


@dataclass
class BatchCache:
    """Reads shared by the messages of one claimed batch (a batch lasts about a second):
    account configs, effective status maps and credibility rules."""

    configs: dict[int, AccountConfig] = field(default_factory=dict)
    status_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    rules: dict[str, list[CredibilityRule]] = field(default_factory=dict)

    def config(self, account: ChannelAccount) -> AccountConfig:
        if account.pk not in self.configs:
            self.configs[account.pk] = account_config(account)
        return self.configs[account.pk]

    def status_map(self, kind: str) -> dict[str, str]:
        if kind not in self.status_maps:
            self.status_maps[kind] = status_map_for_kind(kind=kind)
        return self.status_maps[kind]

    def credibility_rules(self, kind: str) -> list[CredibilityRule]:
        if kind not in self.rules:
            self.rules[kind] = credibility_rules_for(kind=kind)
        return self.rules[kind]


class _Terminal(Exception):
    """Processing this message can never succeed as it stands; carries the reason."""


def database_error_reason(exc: DatabaseError) -> str:
    """The database's refusal, naming the table and column when PostgreSQL names them.

    Values are checked before the upsert (``orderhub.validation``) so this is the fallback for
    what those checks do not know about.
    """
    diag = getattr(exc.__cause__, "diag", None)
    column = getattr(diag, "column_name", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip()
    if column:
        table = getattr(diag, "table_name", None)
        return f"{table}.{column}: {primary}" if table else f"{column}: {primary}"
    return f"{type(exc).__name__}: {primary}"


def inbox_claim(*, limit: int) -> list[int]:
    """Lease up to ``limit`` claimable messages to the caller (one short transaction).

    Claimable: pending/retry whose time has come, or processing whose lease expired (its
    worker died). Rows another transaction holds are skipped, so workers never wait on each
    other. Returns the ids in ascending order.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM, [settings.INBOX_LEASE_SECONDS, limit])
        return sorted(row[0] for row in cursor.fetchall())


def _resolve_facts(
    items: Sequence[NormalizedOrder | NormalizedTracking],
    *,
    status_map: dict[str, str],
    message_id: int,
    kind: str = "",
) -> list[NormalizedOrder | NormalizedTracking]:
    """Each fact's (or tracking event's) milestone through the editable mapping. A courier
    event that voids its waybill (``VOIDED_WAYBILL_STATES``) has none: its stage says
    ``returned``, but no parcel came back."""
    resolved: list[NormalizedOrder | NormalizedTracking] = []
    for order in items:
        if isinstance(order, NormalizedTracking):
            events = tuple(
                dataclasses.replace(
                    event,
                    milestone=None
                    if f"{kind}:{event.raw_substate}" in VOIDED_WAYBILL_STATES
                    else status_map.get(event.stage) or None,
                    source_message_id=message_id,
                )
                for event in order.events
            )
            resolved.append(dataclasses.replace(order, events=events))
            continue
        facts = tuple(
            dataclasses.replace(
                fact,
                milestone=status_map.get(fact.raw_status) or None,
                source_message_id=message_id,
            )
            for fact in order.facts
        )
        resolved.append(dataclasses.replace(order, facts=facts))
    return resolved


def _normalized(
    message: InboundMessage, *, cache: BatchCache
) -> list[NormalizedOrder | NormalizedTracking]:
    """Parse and normalize one message; ``_Terminal`` when it can never be read."""
    account = message.account
    if account.kind not in adapters:
        raise _Terminal(f"unknown channel kind {account.kind!r}")
    adapter = adapters.get(account.kind)()
    try:
        payload = payload_parse(bytes(message.payload), max_bytes=settings.WEBHOOK_MAX_BODY_BYTES)
    except PayloadError as exc:
        raise _Terminal(f"payload rejected: {exc}") from None
    try:
        orders = adapter.normalize(cache.config(account), payload)
    except ADAPTER_DATA_ERRORS as exc:
        raise _Terminal(f"cannot normalize: {type(exc).__name__}: {exc}"[:1000]) from None
    orders = _resolve_facts(
        orders, status_map=cache.status_map(account.kind), message_id=message.pk, kind=account.kind
    )
    for order in orders:
        try:
            if isinstance(order, NormalizedTracking):
                normalized_tracking_check(order)
            else:
                normalized_order_check(order)
        except OrderDataError as exc:  # nothing of this message is stored
            raise _Terminal(str(exc)[:1000]) from None
    return orders


def _process_locked(
    messages: list[InboundMessage], *, user: Any | None, cache: BatchCache
) -> dict[int, str]:
    """Process locked ``processing`` messages, in id order, in the caller's transaction.

    Every order change of every message is collected in one ``OrderWork`` and written by one
    flush; the messages' own rows by one UPDATE. Returns the reason of each message that can
    never be processed (the caller ends those as failed-terminal once this commits).
    """
    now = timezone.now()
    work = OrderWork()
    items: list[UpsertItem] = []
    trackings: list[tuple[InboundMessage, list[NormalizedTracking]]] = []
    spans: list[tuple[InboundMessage, int, int]] = []
    terminal: dict[int, str] = {}
    pending = PendingOrders()
    for message in messages:
        account = message.account
        try:
            stated = _normalized(message, cache=cache)
        except _Terminal as exc:
            terminal[message.pk] = str(exc)
            continue
        message.reason = ""
        message.lease_until = None
        message.processed_at = now
        waybills = [item for item in stated if isinstance(item, NormalizedTracking)]
        orders = [item for item in stated if isinstance(item, NormalizedOrder)]
        if waybills:  # a courier feed: waybills, applied after the orders of the batch
            message.status = InboxStatus.PROCESSED
            trackings.append((message, waybills))
            spans.append((message, len(items), len(items)))
            if not orders:
                continue
        reason = (
            ""
            if message.override_credibility
            else credibility_reason(
                kind=account.kind,
                orders=orders,
                rules=cache.credibility_rules(account.kind),
                pending=pending,
            )
        )
        if reason:
            message.status = InboxStatus.HELD
            message.reason = reason[:1000]
            work.ledger.append(
                LedgerEventIn(
                    action="inbox.held",
                    actor=actor_label(user, account.code),
                    subject_type="inbound_message",
                    subject_id=message.pk,
                    source_system=f"{account.kind}:{account.code}",
                    after={"reason": message.reason},
                )
            )
            spans.append((message, len(items), len(items)))
            continue
        message.status = InboxStatus.PROCESSED
        pending.accept(orders)
        source = f"{account.kind}:{account.code}"
        first = len(items)
        # A fixed order within a message (the locks themselves are taken in key order).
        for normalized in sorted(orders, key=lambda o: (o.channel, o.external_id)):
            items.append(UpsertItem(normalized=normalized, source=source, user=user))
        spans.append((message, first, len(items)))
    result = orders_upsert_locked(items, work=work) if items else []
    for message, first, last in spans:
        if message.status == InboxStatus.PROCESSED:
            message.order_ids = [order.pk for order in result[first:last]]
    if trackings:
        owners = tracking_record_locked(
            [waybill for _message, waybills in trackings for waybill in waybills],
            known_orders=result,
            work=work,
        )
        for message, waybills in trackings:
            message.order_ids = sorted(
                {owners[w.tracking_number] for w in waybills if w.tracking_number in owners}
            )
    work.flush()
    # Returns, complaints and reviews, once the orders they name are written.
    processed = [message for message, _f, _l in spans if message.status == InboxStatus.PROCESSED]
    feedback_from_messages(processed, config=cache.config)
    if spans:
        rows_update(
            [message for message, _first, _last in spans],
            ["status", "reason", "lease_until", "processed_at", "order_ids"],
        )
    return terminal


def _locked_messages(message_ids: list[int]) -> list[InboundMessage]:
    """The messages still ``processing``, locked for the transaction (a late second worker
    waits here, then finds them done). Without the raw body and headers: processing reads the
    stored payload, and those columns are most of a row's bytes."""
    return list(
        InboundMessage.objects.select_for_update(of=("self",))
        .select_related("account")
        .defer("body", "headers")
        .filter(pk__in=message_ids, status=InboxStatus.PROCESSING)
        .order_by("pk")
    )


def _finish_failed(message_id: int, *, reason: str, terminal: bool) -> str:
    """Record a failure outside the rolled-back processing transaction."""
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().get(pk=message_id)
        if message.status != InboxStatus.PROCESSING:
            return message.status
        if not terminal and message.attempts < settings.INBOX_MAX_ATTEMPTS:
            delay = min(2**message.attempts, 300) * (0.5 + random.random())  # jitter
            message.status = InboxStatus.RETRY
            message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        else:
            message.status = InboxStatus.FAILED_TERMINAL
            message.processed_at = timezone.now()
            if not terminal:
                reason = f"gave up after {message.attempts} attempts: {reason}"
        message.reason = reason[:1000]
        message.lease_until = None
        message.save(
            update_fields=["status", "next_attempt_at", "reason", "lease_until", "processed_at"]
        )
        if message.status == InboxStatus.FAILED_TERMINAL:
            ledger_append(
                action="inbox.failed",
                actor="system",
                subject_type="inbound_message",
                subject_id=message.pk,
                after={"reason": message.reason, "attempts": message.attempts},
            )
        return message.status


def inbox_message_process(
    *, message_id: int, user: Any | None = None, cache: BatchCache | None = None
) -> str:
    """Process one claimed message in its own transaction; returns its resulting status.

    Precondition: the caller claimed it (status ``processing``). Locks the message row for the
    whole transaction, so a late second worker waits and then finds it done. Parse and
    normalize errors end it ``failed_terminal`` at once; transient database errors schedule
    a retry with backoff and jitter, ``failed_terminal`` after ``INBOX_MAX_ATTEMPTS``.
    """
    try:
        with transaction.atomic():
            messages = _locked_messages([message_id])
            if not messages:
                status = (
                    InboundMessage.objects.filter(pk=message_id)
                    .values_list("status", flat=True)
                    .first()
                )
                return status or ""
            terminal = _process_locked(messages, user=user, cache=cache or BatchCache())
    except TRANSIENT_ERRORS as exc:
        logger.warning("channels.inbox.retry message=%s error=%r", message_id, exc)
        return _finish_failed(message_id, reason=f"{type(exc).__name__}: {exc}", terminal=False)
    except OrderDataError as exc:  # a refused value: the reason names its field
        logger.warning("channels.inbox.refused message=%s error=%s", message_id, exc)
        return _finish_failed(message_id, reason=str(exc), terminal=True)
    except OrderError as exc:  # a domain refusal: the same message would be refused again
        logger.warning("channels.inbox.refused message=%s error=%s", message_id, exc)
        return _finish_failed(message_id, reason=f"{type(exc).__name__}: {exc}", terminal=True)
    except DatabaseError as exc:  # DataError and the like: the data itself is refused
        logger.warning("channels.inbox.data_error message=%s error=%r", message_id, exc)
        return _finish_failed(message_id, reason=database_error_reason(exc), terminal=True)
    if message_id in terminal:
        logger.info("channels.inbox.failed message=%s reason=%s", message_id, terminal[message_id])
        return _finish_failed(message_id, reason=terminal[message_id], terminal=True)
    return messages[0].status


def inbox_process_pending(*, limit: int = 100) -> int:
    """Claim up to ``limit`` messages and process them together in one transaction.

    Returns how many messages were claimed and handled (any outcome). When the batch fails as
    a whole (a refused value, a deadlock, a domain refusal), nothing of it stays and each
    message is processed again on its own, so one bad message costs only itself. Safe to run
    in many workers at once.
    """
    message_ids = inbox_claim(limit=limit)
    if not message_ids:
        return 0
    cache = BatchCache()
    try:
        with transaction.atomic():
            terminal = _process_locked(_locked_messages(message_ids), user=None, cache=cache)
    except SoftTimeLimitExceeded:
        raise  # the task's time is up: stop, the claimed messages' leases expire
    except Exception as exc:  # whatever it was, each message on its own tells whose it is
        logger.info("channels.inbox.batch_split messages=%s error=%r", len(message_ids), exc)
        for message_id in message_ids:
            inbox_message_process(message_id=message_id, cache=cache)
        return len(message_ids)
    for message_id, reason in terminal.items():
        logger.info("channels.inbox.failed message=%s reason=%s", message_id, reason)
        _finish_failed(message_id, reason=reason, terminal=True)
    return len(message_ids)


# Whether anything is claimable, with the claim's own conditions: two probes of the partial
# indexes (``inbox_claimable_idx``, ``inbox_leased_idx``), no row is read or locked.
_CLAIMABLE = f"""
SELECT EXISTS (
    SELECT 1 FROM {InboundMessage._meta.db_table}
    WHERE status IN ('pending', 'retry') AND next_attempt_at <= clock_timestamp()
) OR EXISTS (
    SELECT 1 FROM {InboundMessage._meta.db_table}
    WHERE status = 'processing' AND lease_until < clock_timestamp()
)
"""  # noqa: S608 - only the table name (a model constant) is interpolated

# Session advisory lock of the one drain that keeps watching an empty inbox.
_WATCH_LOCK = 0x0C4A_1D2A_1B0C
# How often the watching drain probes the empty inbox.
WATCH_POLL_SECONDS = 0.1


def inbox_claimable() -> bool:
    """Whether a message waits to be claimed (one cheap, prepared statement)."""
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIMABLE)
        row = cursor.fetchone()
        return bool(row and row[0])


def _watch_lock(*, take: bool) -> bool:
    sql = "SELECT pg_try_advisory_lock(%s)" if take else "SELECT pg_advisory_unlock(%s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [_WATCH_LOCK])
        row = cursor.fetchone()
        return bool(row and row[0])


def inbox_drain(
    *, limit: int, budget_seconds: float, watch_seconds: float = 0.0, handoff_seconds: float = 1.0
) -> int:
    """Process batches until the inbox is empty or the time budget is spent.

    With ``watch_seconds``, an empty inbox does not end the drain at once: one drain at a
    time (a session advisory lock; the others return as before) keeps watching it, probing
    every ``WATCH_POLL_SECONDS`` with ``inbox_claimable``, and processes what arrives, until
    ``watch_seconds`` passed without a message or the budget is spent. It lets the lock go
    ``handoff_seconds`` before it stops (the beat interval), so the drain beat starts next
    takes the watch over while this one still looks: a message waits for a probe, not for
    the next beat tick. Must run outside a transaction. Returns how many messages it handled.
    """
    deadline = time.monotonic() + budget_seconds
    total = 0
    watching = False  # this drain holds the watch lock
    watch_until: float | None = None  # None: not watching (yet)
    try:
        while True:
            handled = inbox_process_pending(limit=limit)
            total += handled
            now = time.monotonic()
            if now >= deadline:
                return total
            if handled >= limit:
                continue  # more are waiting
            if watch_seconds <= 0:
                return total
            if watch_until is None:
                watching = _watch_lock(take=True)
                if not watching:
                    return total  # another drain watches
                watch_until = min(deadline, now + watch_seconds)
            elif handled and watching:
                watch_until = min(deadline, now + watch_seconds)
            while True:
                now = time.monotonic()
                if now >= watch_until:
                    return total
                if watching and now >= watch_until - handoff_seconds:
                    watching = not _watch_lock(take=False)
                time.sleep(WATCH_POLL_SECONDS)
                if inbox_claimable():
                    break
    finally:
        if watching:
            _watch_lock(take=False)


@transaction.atomic
def inbox_message_requeue(
    *, message_id: int, override_credibility: bool = False, user: Any | None = None
) -> InboundMessage:
    """ "Process again": put a failed, held or processed message back in the queue.

    Processing it again converges (facts and orders are idempotent). With
    ``override_credibility`` the credibility rules are skipped for this message.
    """
    message = InboundMessage.objects.select_for_update().get(pk=message_id)
    before = message.status
    message.status = InboxStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.lease_until = None
    message.reason = ""
    message.override_credibility = override_credibility or message.override_credibility
    message.save(
        update_fields=[
            "status", "attempts", "next_attempt_at", "lease_until", "reason",
            "override_credibility",
        ]
    )  # fmt: skip
    ledger_append(
        action="inbox.requeued",
        actor=actor_label(user, "system"),
        subject_type="inbound_message",
        subject_id=message.pk,
        before={"status": before},
        after={"status": message.status, "override_credibility": override_credibility},
    )
    return message


def inbox_message_claim(*, message_id: int) -> bool:
    """Lease one specific message to the caller if it is claimable (for synchronous runs)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {InboundMessage._meta.db_table}
            SET status = 'processing', attempts = attempts + 1,
                lease_until = clock_timestamp() + make_interval(secs => %s)
            WHERE id = (
                SELECT id FROM {InboundMessage._meta.db_table}
                WHERE id = %s AND (status IN ('pending', 'retry')
                    OR (status = 'processing' AND lease_until < clock_timestamp()))
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            """,  # noqa: S608 - only the table name (a model constant) is interpolated
            [settings.INBOX_LEASE_SECONDS, message_id],
        )
        return cursor.fetchone() is not None
