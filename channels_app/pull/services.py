"""Poll runs: lease, page, store page and cursor together, release.

A poll takes the account's lease with a conditional UPDATE, so an overlapping run (beat
firing again, a second beat, a manual run) skips instead of fetching the same pages. HTTP
happens outside any transaction; each page is stored into the inbox (same dedupe and
processing as pushes) in ONE transaction with the cursor that follows it, fenced by the lease
owner, so a crash between two pages resumes from the last stored page: nothing lost, nothing
stored twice.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from channels_app.adapters.base import HookResponse, Verified
from channels_app.http import (
    PlatformError,
    RateLimitedError,
    TerminalError,
    TransientError,
)
from channels_app.models import ChannelAccount, InboundMessage, InboxSource, PollState
from channels_app.pull.base import (
    PUSH_CURSOR,
    Page,
    PullContext,
    PulledMessage,
    StoredPush,
    pullers,
)
from channels_app.selectors import account_config
from channels_app.services.intake import inbound_message_store
from traceability.services import ledger_append

logger = logging.getLogger(__name__)

# Inbox ``source`` of pulled messages (next to webhook and manual_import).
SOURCE_POLL = "poll"


def _poll_state_statement(text: str) -> str:
    """``text`` with ``{table}`` the poll state table, composed once at import."""
    return sql.SQL(text).format(table=sql.Identifier(PollState._meta.db_table)).as_string(None)


_STATE_CREATE = _poll_state_statement(
    """
    INSERT INTO {table} (account_id, cursor, lease_owner, last_outcome, last_error,
        pages_total, messages_total, rate_limited_total)
    VALUES (%s, '{{}}'::jsonb, '', '', '', 0, 0, 0)
    ON CONFLICT (account_id) DO NOTHING
"""
)


_LEASE_TAKE = _poll_state_statement(
    """
    UPDATE {table}
    SET lease_until = clock_timestamp() + make_interval(secs => %s),
        lease_owner = %s, last_started_at = clock_timestamp()
    WHERE account_id = %s
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
      AND (%s OR next_poll_at IS NULL OR next_poll_at <= clock_timestamp())
    RETURNING cursor
"""
)


_PAGE_STORE = _poll_state_statement(
    """
    UPDATE {table}
    SET cursor = %s::jsonb,
        lease_until = clock_timestamp() + make_interval(secs => %s),
        pages_total = pages_total + 1,
        messages_total = messages_total + %s
    WHERE account_id = %s AND lease_owner = %s AND lease_until >= clock_timestamp()
    RETURNING id
"""
)


_LEASE_RELEASE = _poll_state_statement(
    """
    UPDATE {table}
    SET lease_until = NULL, lease_owner = '', last_finished_at = clock_timestamp(),
        last_outcome = %s, last_error = %s,
        rate_limited_total = rate_limited_total + %s,
        next_poll_at = CASE WHEN %s::float IS NULL THEN NULL
            ELSE clock_timestamp() + make_interval(secs => %s::float) END
    WHERE account_id = %s AND lease_owner = %s
"""
)


class LeaseLostError(Exception):
    """Another run took the lease over (ours expired): stop without writing."""


@dataclass(frozen=True, slots=True)
class PollResult:
    outcome: str
    pages: int = 0
    messages: int = 0
    rate_limited: int = 0
    error: str = ""


def _lease_seconds() -> int:
    return int(getattr(settings, "POLL_LEASE_SECONDS", 120))


def poll_lease_acquire(
    *, account_id: int, owner: str, force: bool = False
) -> dict[str, Any] | None:
    """Take the account's poll lease; returns its cursor, or None when another run holds it.

    Creates the state row on first use (ON CONFLICT DO NOTHING). Unless ``force``, an account
    whose ``next_poll_at`` (a rate-limit or error backoff) lies ahead is not polled either.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_STATE_CREATE, [account_id])
        cursor.execute(_LEASE_TAKE, [_lease_seconds(), owner, account_id, force])
        row = cursor.fetchone()
    if row is None:
        return None
    value = row[0]
    return json.loads(value) if isinstance(value, str) else dict(value or {})


@transaction.atomic
def poll_page_store(
    *, account: ChannelAccount, owner: str, page: Page, cursor_before: Mapping[str, Any]
) -> int:
    """Store one fetched page and the cursor after it, atomically; returns messages stored.

    Fenced: the cursor is only written while ``owner`` still holds an unexpired lease
    (otherwise ``LeaseLostError`` and nothing is stored). Records already in the inbox with
    the same version (re-read overlap windows) are skipped, so a re-read does not count as a
    redelivery; a race with a concurrent writer still ends in one row (ON CONFLICT).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _PAGE_STORE,
            [
                json.dumps(dict(page.cursor)),
                _lease_seconds(),
                len(page.messages),
                account.pk,
                owner,
            ],
        )
        if cursor.fetchone() is None:
            raise LeaseLostError(f"poll lease of account {account.code} lost")
    return _messages_store(account=account, messages=page.messages)


def _messages_store(*, account: ChannelAccount, messages: tuple[PulledMessage, ...]) -> int:
    keys = [message.delivery_id for message in messages]
    known = set(
        InboundMessage.objects.filter(account=account, dedupe_key__in=keys).values_list(
            "dedupe_key", flat=True
        )
    )
    stored = 0
    now = timezone.now()
    for message in messages:
        if message.delivery_id in known:
            continue
        known.add(message.delivery_id)
        _id, created = inbound_message_store(
            account=account,
            verified=Verified(
                delivery_id=message.delivery_id,
                event_type=message.event_type,
                payload=message.payload,
                response=HookResponse(),
            ),
            body=message.payload,
            headers={"x-orderhub-pull": account.kind},
            received_at=now,
            source=SOURCE_POLL,
            actor="poll",
        )
        stored += int(created)
    return stored


@transaction.atomic
def pulled_messages_store(*, account_id: int, messages: list[PulledMessage]) -> int:
    """Store replayed records (reconciliation) into the inbox; returns how many were new."""
    account = ChannelAccount.objects.get(pk=account_id)
    return _messages_store(account=account, messages=tuple(messages))


def poll_lease_release(
    *,
    account_id: int,
    owner: str,
    outcome: str,
    error: str,
    rate_limited: int,
    backoff_seconds: float | None,
) -> None:
    """Give the lease back (only if still ours) and record how the run ended."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _LEASE_RELEASE,
            [
                outcome,
                error[:2000],
                rate_limited,
                backoff_seconds,
                backoff_seconds,
                account_id,
                owner,
            ],
        )


@transaction.atomic
def channel_account_attention_mark(*, account_id: int, reason: str) -> ChannelAccount:
    """Flag an account whose credentials the platform refused; polls and relays skip it.

    Idempotent: an account already flagged keeps its first reason (no new ledger event).
    """
    account = ChannelAccount.objects.select_for_update().get(pk=account_id)
    if account.needs_attention:
        return account
    account.needs_attention = True
    account.attention_reason = reason[:500]
    account.save(update_fields=["needs_attention", "attention_reason", "updated_at"])
    ledger_append(
        action="channel.needs_attention",
        actor="system",
        subject_type="channel_account",
        subject_id=account.pk,
        source_system=f"{account.kind}:{account.code}",
        after={"reason": account.attention_reason},
    )
    logger.warning("channels.poll.needs_attention account=%s reason=%s", account.code, reason)
    return account


def _backoff(base: float, cap: float = 300.0) -> float:
    return min(cap, base) * (0.5 + random.random())


def account_poll(
    *,
    account_id: int,
    budget_seconds: float = 20.0,
    max_pages: int | None = None,
    force: bool = False,
) -> PollResult:
    """Run one poll of one account: pages until done, the budget is spent or ``max_pages``.

    Must not run inside a transaction (HTTP happens here). Skips a missing, disabled or
    flagged account and an account whose lease another run holds (``skipped_locked``).
    Rate-limit answers are waited out inside the client (bounded); when they persist the
    run ends ``rate_limited`` with the cursor of the last stored page and a backoff, not an
    error. Credentials refused → the account is flagged ``needs_attention``.
    """
    account = ChannelAccount.objects.filter(pk=account_id).first()
    if account is None or not account.enabled or account.needs_attention:
        return PollResult(outcome="skipped_inactive")
    if account.kind not in pullers:
        return PollResult(outcome="skipped_not_pulled")
    owner = uuid.uuid4().hex
    cursor = poll_lease_acquire(account_id=account_id, owner=owner, force=force)
    if cursor is None:
        logger.info("channels.poll.skipped_locked account=%s", account.code)
        return PollResult(outcome="skipped_locked")
    rate_limited: list[float] = []
    context = PullContext(now=timezone.now(), on_rate_limited=rate_limited.append)
    puller = pullers.get(account.kind)(account_config(account), context)
    deadline = time.monotonic() + budget_seconds
    pages = messages = 0
    outcome, error, backoff = "ok", "", None
    try:
        while True:
            page = puller.page(
                cursor, _stored_pushes(account=account, cursor=cursor, limit=puller.push_batch)
            )
            messages += poll_page_store(
                account=account, owner=owner, page=page, cursor_before=cursor
            )
            pages += 1
            cursor = dict(page.cursor)
            if page.done:
                break
            if time.monotonic() >= deadline or (max_pages is not None and pages >= max_pages):
                outcome = "partial"
                break
    except LeaseLostError as exc:
        logger.warning("channels.poll.lease_lost account=%s", account.code)
        return PollResult("lease_lost", pages, messages, len(rate_limited), str(exc))
    except RateLimitedError as exc:
        outcome, error = "rate_limited", str(exc)
        backoff = _backoff(max(exc.retry_after or 0.0, 5.0) * 2)
    except TransientError as exc:
        outcome, error, backoff = "transient_error", str(exc), _backoff(15.0)
    except PlatformError as exc:
        outcome, error, backoff = "platform_error", str(exc), _backoff(60.0)
    except TerminalError as exc:
        outcome, error = "terminal_error", str(exc)
        channel_account_attention_mark(account_id=account_id, reason=str(exc))
    poll_lease_release(
        account_id=account_id,
        owner=owner,
        outcome=outcome,
        error=error,
        rate_limited=len(rate_limited),
        backoff_seconds=backoff,
    )
    logger.info(
        "channels.poll.finished account=%s outcome=%s pages=%s messages=%s rate_limited=%s",
        account.code,
        outcome,
        pages,
        messages,
        len(rate_limited),
    )
    return PollResult(outcome, pages, messages, len(rate_limited), error)


def _stored_pushes(
    *, account: ChannelAccount, cursor: Mapping[str, Any], limit: int
) -> tuple[StoredPush, ...]:
    """The account's webhook deliveries after ``cursor[PUSH_CURSOR]``, oldest first, at most
    ``limit`` (none read when the puller completes no pushes)."""
    if limit <= 0:
        return ()
    rows = (
        InboundMessage.objects.filter(
            account=account, source=InboxSource.WEBHOOK, id__gt=int(cursor.get(PUSH_CURSOR) or 0)
        )
        .order_by("id")
        .values_list("id", "payload")[:limit]
    )
    return tuple(StoredPush(id=pk, payload=bytes(payload)) for pk, payload in rows)


def pulled_account_ids() -> list[int]:
    """Enabled, unflagged accounts of a pulled kind (the beat fan-out's list)."""
    return list(
        ChannelAccount.objects.filter(
            enabled=True, needs_attention=False, kind__in=list(pullers)
        ).values_list("pk", flat=True)
    )


def poll_backoff_clear(*, account_id: int) -> None:
    """Let the next scheduled poll run at once (after a human fixed the account)."""
    PollState.objects.filter(account_id=account_id).update(next_poll_at=None)
