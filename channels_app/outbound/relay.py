"""The write-back relay: claims due outbox entries and sends them, outside any transaction.

Entries are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease; the platform is called
OUTSIDE any transaction, every HTTP attempt is logged (``OutboundCall``), and on
acknowledgement a status fact is recorded for the receiving system. A relay killed mid-call
leaves the entry ``sending``; once the lease expires another relay sends again, and the
writer's "check before re-send" (or the platform's own idempotency) keeps the effect single.

How an entry ends: acknowledged; ``retry`` with backoff for transient errors; ``failed`` with
the reason for a business refusal, for a request that cannot be built (an account without the
options its URL needs) and once ``OUTBOX_MAX_ATTEMPTS`` attempts are spent. Claiming never
counts an attempt past that limit, and one entry that fails in an unforeseen way is recorded
on that entry and never stops the sweep.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from channels_app.http import HttpClient, PlatformError, TerminalError, TransientError
from channels_app.models import ChannelAccount, OutboundOutcome, OutboxEntry, OutboxStatus
from channels_app.outbound.base import WriteRequest, writers
from channels_app.outbound.calls import OutboundCallRecorder
from channels_app.pull.services import channel_account_attention_mark
from channels_app.selectors import account_config
from orderhub.domain import StatusFactIn
from orderhub.registry import RegistryError
from orderhub.services import status_fact_record
from traceability.services import ledger_append

logger = logging.getLogger(__name__)

_TABLE = OutboxEntry._meta.db_table

# A request that cannot be built will not be buildable on the next attempt either: requests'
# InvalidURL / MissingSchema / InvalidSchema / InvalidHeader (ValueErrors), URLRequired, a
# writer's own ValueError about its configuration, an account kind without a writer.
UNBUILDABLE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    requests.exceptions.URLRequired,
    RegistryError,
)


def _lease_seconds() -> int:
    return int(getattr(settings, "OUTBOX_LEASE_SECONDS", 30))


def _max_attempts() -> int:
    return int(getattr(settings, "OUTBOX_MAX_ATTEMPTS", 8))


def account_system(account: ChannelAccount) -> str:
    """The system name of an account in facts and ledger events: ``<kind>:<code>``."""
    return f"{account.kind}:{account.code}"


# Due: pending/retry whose time has come, or sending whose lease expired (its relay died); in
# both cases only while attempts are left (spent ones are failed by ``_exhausted_fail``).
_DUE = """
    ((status IN ('pending', 'retry') AND next_attempt_at <= clock_timestamp())
     OR (status = 'sending' AND lease_until < clock_timestamp()))
"""

_CLAIM = f"""
UPDATE {_TABLE}
SET status = 'sending', lease_until = clock_timestamp() + make_interval(secs => %s),
    attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {_TABLE}
    WHERE (%s::bigint IS NULL OR id = %s::bigint)
      AND attempts < %s
      AND {_DUE}
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT %s
)
RETURNING id
"""  # noqa: S608 - only the table name (a model constant) and _DUE are interpolated

_EXHAUSTED = f"""
UPDATE {_TABLE}
SET status = 'failed', lease_until = NULL,
    last_error = left('gave up after ' || attempts || ' attempts: '
                      || CASE WHEN status = 'sending' THEN 'the relay did not finish'
                              ELSE coalesce(nullif(last_error, ''), 'no answer') END, 2000)
WHERE id IN (
    SELECT id FROM {_TABLE}
    WHERE attempts >= %s AND {_DUE}
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT %s
)
RETURNING id, order_id, last_error, attempts
"""  # noqa: S608 - only the table name (a model constant) and _DUE are interpolated


def outbox_claim(*, limit: int, entry_id: int | None = None) -> list[int]:
    """Lease due entries (or the one ``entry_id`` if due) to the caller; ids ascending.

    Each claim is one attempt; an entry whose attempts are spent is never claimed.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM, [_lease_seconds(), entry_id, entry_id, _max_attempts(), limit])
        return sorted(row[0] for row in cursor.fetchall())


@transaction.atomic
def _exhausted_fail(*, limit: int) -> int:
    """Fail the due entries whose attempts are spent (a relay died on the last one), with
    the reason and an ``outbox.failed`` ledger event each; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(_EXHAUSTED, [_max_attempts(), limit])
        rows = cursor.fetchall()
    for entry_id, order_id, error, attempts in sorted(rows):
        logger.warning("channels.outbound.exhausted entry=%s attempts=%s", entry_id, attempts)
        ledger_append(
            action="outbox.failed",
            actor="relay",
            order_id=order_id,
            subject_type="outbox_entry",
            subject_id=entry_id,
            after={"error": error, "attempts": attempts},
        )
    return len(rows)


@transaction.atomic
def _finish(
    entry_id: int,
    *,
    status: str,
    error: str = "",
    delay: float | None = None,
    attempt_refunded: bool = False,
) -> str:
    """Close the claimed attempt of a ``sending`` entry. ``attempt_refunded``: the platform
    was not called, so the claim does not count as an attempt."""
    entry = OutboxEntry.objects.select_for_update().get(pk=entry_id)
    if entry.status != OutboxStatus.SENDING:
        return entry.status
    if status == OutboxStatus.RETRY and entry.attempts >= _max_attempts() and not attempt_refunded:
        status = OutboxStatus.FAILED
        error = f"gave up after {entry.attempts} attempts: {error}"
    entry.status = status
    entry.last_error = error[:2000]
    entry.lease_until = None
    if delay is not None:
        entry.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    fields = ["status", "last_error", "lease_until", "next_attempt_at"]
    if attempt_refunded and entry.attempts > 0:
        entry.attempts = F("attempts") - 1
        fields.append("attempts")
    entry.save(update_fields=fields)
    if status == OutboxStatus.FAILED:
        entry.refresh_from_db(fields=["attempts"])
        logger.warning("channels.outbound.failed entry=%s error=%s", entry.pk, entry.last_error)
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
    system = account_system(entry.account)
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
    is fixed; a business refusal, or a request that cannot be built, fails the entry with the
    reason. An unforeseen exception closes the attempt's open calls and propagates (the
    callers, ``outbox_entry_relay``, record it on the entry).
    """
    entry = OutboxEntry.objects.select_related("account", "order").filter(pk=entry_id).first()
    if entry is None or entry.status != OutboxStatus.SENDING:
        return entry.status if entry else ""
    account = entry.account
    if account.needs_attention or not account.enabled:
        return _finish(
            entry_id,
            status=OutboxStatus.RETRY,
            error="account needs attention",
            delay=900,
            attempt_refunded=True,
        )
    payload: dict[str, Any] = dict(entry.payload)
    # A tracking number that arrived after the transition is still sent.
    payload["tracking_number"] = payload.get("tracking_number") or entry.order.tracking_number
    payload["carrier"] = payload.get("carrier") or entry.order.carrier
    config = account_config(account)
    recorder = OutboundCallRecorder(
        account_id=account.pk,
        outbox_id=entry.pk,
        order_id=entry.order_id,
        secret_values=config.secrets.values(),
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
        result = writers.get(account.kind)(config, http, request)
    except TerminalError as exc:
        recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
        channel_account_attention_mark(account_id=account.pk, reason=str(exc))
        return _finish(entry_id, status=OutboxStatus.RETRY, error=str(exc), delay=900)
    except TransientError as exc:
        return _finish(
            entry_id,
            status=OutboxStatus.RETRY,
            error=str(exc),
            delay=_retry_delay(entry.attempts, exc.retry_after),
        )
    except PlatformError as exc:
        recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
        return _finish(entry_id, status=OutboxStatus.FAILED, error=str(exc))
    except UNBUILDABLE_ERRORS as exc:
        reason = f"the request cannot be built: {type(exc).__name__}: {exc}"
        recorder.open_calls_close(OutboundOutcome.TERMINAL, reason)
        logger.warning("channels.outbound.unbuildable entry=%s error=%s", entry_id, reason)
        return _finish(entry_id, status=OutboxStatus.FAILED, error=reason)
    except Exception as exc:
        recorder.open_calls_close(OutboundOutcome.TERMINAL, f"{type(exc).__name__}: {exc}")
        raise
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


def outbox_entry_relay(*, entry_id: int) -> str:
    """``outbox_entry_send`` that never raises for the entry's own failure: an unforeseen
    exception is logged with its traceback and recorded on the entry (retry with backoff while
    attempts are left, then failed), so the next entry is still sent."""
    try:
        return outbox_entry_send(entry_id=entry_id)
    except Exception as exc:
        logger.exception("channels.outbound.send_crashed entry=%s", entry_id)
        attempts = (
            OutboxEntry.objects.filter(pk=entry_id).values_list("attempts", flat=True).first()
        )
        return _finish(
            entry_id,
            status=OutboxStatus.RETRY,
            error=f"{type(exc).__name__}: {exc}",
            delay=_retry_delay(attempts or 1),
        )


def outbox_relay_pending(*, limit: int = 50) -> int:
    """The sweep: fail entries whose attempts are spent, then claim due entries (including
    ones whose relay died) and send each; returns how many were sent (claimed)."""
    _exhausted_fail(limit=limit)
    handled = 0
    for entry_id in outbox_claim(limit=limit):
        outbox_entry_relay(entry_id=entry_id)
        handled += 1
    return handled
