"""The Kuaidi100 overdue poll: waybills whose pushes stopped are queried instead.

Each run of one kuaidi100 account takes the account's poll lease (``PollState``, the same
conditional UPDATE as the pull channels, so two runs never overlap), picks the subscribed
waybills of open orders (``handed_over`` / ``collected``) that have had no tracking event for
``KUAIDI100_OVERDUE_HOURS`` (and were subscribed at least that long ago), at most
``KUAIDI100_POLL_BATCH`` of them after the cursor (round robin over runs), queries each with
the real-time query outside any transaction (every call an ``OutboundCall`` row), and stores
the answers through the normal tracking path in one transaction fenced by the lease: the same
events as pushed ones dedupe, facts follow as for pushes.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from channels_app.adapters.base import AccountConfig
from channels_app.adapters.kuaidi100.client import kuaidi100_query
from channels_app.adapters.kuaidi100.mapping import Kuaidi100Adapter
from channels_app.http import HttpClient, PlatformError, TerminalError, TransientError
from channels_app.models import ChannelAccount, OutboundOutcome, OutboxEntry, OutboxStatus
from channels_app.outbound.calls import OutboundCallRecorder
from channels_app.outbound.courier_writers import ACTION_SUBSCRIBE, KIND
from channels_app.pull.base import Page
from channels_app.pull.services import (
    LeaseLostError,
    channel_account_attention_mark,
    poll_lease_acquire,
    poll_lease_release,
    poll_page_store,
)
from channels_app.selectors import account_config
from channels_app.services.mapping import status_map_for_kind
from orderhub.choices import Milestone
from orderhub.domain import NormalizedTracking
from orderhub.models import TrackingEvent
from orderhub.services.tracking import tracking_record_locked
from orderhub.services.work import OrderWork

logger = logging.getLogger(__name__)

OPEN_STATUSES = (Milestone.HANDED_OVER, Milestone.COLLECTED)
CURSOR_KEY = "after_entry"


@dataclass(frozen=True, slots=True)
class Waybill:
    entry_id: int
    order_id: int
    carrier: str
    tracking_number: str


@dataclass(frozen=True, slots=True)
class OverdueResult:
    outcome: str
    queried: int = 0
    events: int = 0
    errors: int = 0
    error: str = ""


def _overdue_hours() -> float:
    return float(getattr(settings, "KUAIDI100_OVERDUE_HOURS", 6.0))


def _batch() -> int:
    return int(getattr(settings, "KUAIDI100_POLL_BATCH", 50))


def overdue_waybills(
    *, account_id: int, now: datetime, after_entry: int = 0, limit: int
) -> list[Waybill]:
    """The account's subscribed (acknowledged) waybills of open orders with no tracking event
    received since ``now - KUAIDI100_OVERDUE_HOURS`` and subscribed before that, entry ids
    after ``after_entry``, ascending, at most ``limit``. The order's current waybill only."""
    cutoff = now - timedelta(hours=_overdue_hours())
    recent = TrackingEvent.objects.filter(
        tracking_number=OuterRef("order__tracking_number"), received_at__gte=cutoff
    )
    rows = (
        OutboxEntry.objects.filter(
            account_id=account_id,
            action=ACTION_SUBSCRIBE,
            status=OutboxStatus.ACKNOWLEDGED,
            acknowledged_at__lt=cutoff,
            order__status__in=OPEN_STATUSES,
            id__gt=after_entry,
        )
        .exclude(order__tracking_number="")
        .filter(~Exists(recent))
        .order_by("id")
        .values_list("id", "order_id", "order__carrier", "order__tracking_number", "payload")
    )
    found: list[Waybill] = []
    for entry_id, order_id, carrier, number, payload in rows[: limit * 2]:
        if (payload or {}).get("tracking_number") != number:
            continue  # the order's waybill changed since: its own subscription covers it
        found.append(Waybill(entry_id, order_id, carrier, number))
        if len(found) >= limit:
            break
    return found


def _normalized(
    config: AccountConfig, answer: dict[str, Any], status_map: dict[str, str]
) -> list[NormalizedTracking]:
    trackings = Kuaidi100Adapter().normalize(config, {"status": "polling", "lastResult": answer})
    return [
        dataclasses.replace(
            tracking,
            events=tuple(
                dataclasses.replace(event, milestone=status_map.get(event.stage) or None)
                for event in tracking.events
            ),
        )
        for tracking in trackings
    ]


@transaction.atomic
def _answers_store(
    *,
    account: ChannelAccount,
    owner: str,
    cursor_before: dict[str, Any],
    cursor: dict[str, Any],
    trackings: list[NormalizedTracking],
) -> int:
    """Store the polled traces and the cursor, only while ``owner`` holds the lease."""
    poll_page_store(
        account=account,
        owner=owner,
        page=Page(messages=(), cursor=cursor, done=True),
        cursor_before=cursor_before,
    )
    if not trackings:
        return 0
    work = OrderWork()
    tracking_record_locked(trackings, known_orders=(), work=work)
    work.flush()
    return sum(len(tracking.events) for tracking in trackings)


def kuaidi100_overdue_poll(
    *, account_id: int, now: datetime | None = None, limit: int | None = None
) -> OverdueResult:
    """One overdue poll of one kuaidi100 account (see the module docstring).

    Must not run inside a transaction. Skips a missing, disabled or flagged account, one
    without ``customer`` option or ``key`` secret, and one whose lease another run holds. A
    waybill whose query fails transiently or is refused is left for the next run; a refused
    key flags the account and ends the run.
    """
    account = ChannelAccount.objects.filter(pk=account_id, kind=KIND).first()
    if account is None or not account.enabled or account.needs_attention:
        return OverdueResult("skipped_inactive")
    config = account_config(account)
    if not config.options.get("customer") or not config.secrets.get("key"):
        return OverdueResult("skipped_unconfigured")
    owner = uuid.uuid4().hex
    cursor = poll_lease_acquire(account_id=account_id, owner=owner)
    if cursor is None:
        return OverdueResult("skipped_locked")
    now = now or timezone.now()
    batch = limit if limit is not None else _batch()
    waybills = overdue_waybills(
        account_id=account_id, now=now, after_entry=int(cursor.get(CURSOR_KEY) or 0), limit=batch
    )
    status_map = status_map_for_kind(kind=KIND)
    http = HttpClient(max_attempts=2, max_wait=2.0)
    trackings: list[NormalizedTracking] = []
    outcome, error, errors = "ok", "", 0
    for waybill in waybills:
        recorder = OutboundCallRecorder(
            account_id=account.pk,
            outbox_id=None,
            order_id=waybill.order_id,
            secret_values=config.secrets.values(),
        )
        http.recorder = recorder
        try:
            answer = kuaidi100_query(
                config, http, carrier=waybill.carrier, number=waybill.tracking_number
            )
        except TerminalError as exc:
            recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
            channel_account_attention_mark(account_id=account.pk, reason=str(exc))
            outcome, error = "terminal_error", str(exc)
            break
        except (TransientError, PlatformError) as exc:
            recorder.open_calls_close(OutboundOutcome.TERMINAL, str(exc))
            errors += 1
            error = str(exc)
            logger.info(
                "channels.kuaidi100.query_failed waybill=%s error=%s", waybill.tracking_number, exc
            )
            continue
        if answer is not None:
            trackings.extend(_normalized(config, answer, status_map))
    # A full batch continues after its last entry next time; a short one starts over.
    after = waybills[-1].entry_id if len(waybills) >= batch and waybills else 0
    events = 0
    try:
        events = _answers_store(
            account=account,
            owner=owner,
            cursor_before=cursor,
            cursor={**cursor, CURSOR_KEY: after},
            trackings=trackings,
        )
    except LeaseLostError as exc:
        logger.warning("channels.kuaidi100.lease_lost account=%s", account.code)
        return OverdueResult("lease_lost", len(waybills), 0, errors, str(exc))
    poll_lease_release(
        account_id=account_id,
        owner=owner,
        outcome=outcome,
        error=error,
        rate_limited=0,
        backoff_seconds=None,
    )
    logger.info(
        "channels.kuaidi100.overdue_polled account=%s waybills=%s events=%s errors=%s",
        account.code,
        len(waybills),
        events,
        errors,
    )
    return OverdueResult(outcome, len(waybills), events, errors, error)


def kuaidi100_account_ids() -> list[int]:
    """Enabled, unflagged kuaidi100 accounts (the beat task polls each)."""
    return list(
        ChannelAccount.objects.filter(kind=KIND, enabled=True, needs_attention=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@shared_task(
    name="channels.kuaidi100_overdue_poll", ignore_result=True, soft_time_limit=240, time_limit=300
)
def kuaidi100_overdue_poll_task() -> int:
    """Beat: the overdue poll of every kuaidi100 account, one after the other (the lease makes
    an overlapping run skip). Returns how many waybills were queried."""
    return sum(
        kuaidi100_overdue_poll(account_id=account_id).queried
        for account_id in kuaidi100_account_ids()
    )


@dataclass(frozen=True, slots=True)
class QueryNow:
    """What one immediate query of one waybill found: ``events`` stored (new ones dedupe
    against pushed ones), ``found`` False when Kuaidi100 has no trace yet."""

    account_code: str
    found: bool
    events: int


def kuaidi100_query_now(*, order_id: int, carrier: str, tracking_number: str) -> QueryNow:
    """Query one waybill at once with the first enabled kuaidi100 account (every call an
    ``OutboundCall`` row) and store its trace through the normal tracking path.

    Must not run inside a transaction (the call is made outside one). Raises ``LookupError``
    when no kuaidi100 account is configured, and the HTTP errors of ``kuaidi100_query``.
    """
    ids = kuaidi100_account_ids()
    if not ids:
        raise LookupError("no enabled kuaidi100 account to query")
    account = ChannelAccount.objects.get(pk=ids[0])
    config = account_config(account)
    recorder = OutboundCallRecorder(
        account_id=account.pk,
        outbox_id=None,
        order_id=order_id,
        secret_values=config.secrets.values(),
    )
    http = HttpClient(recorder=recorder, max_attempts=2, max_wait=2.0)
    try:
        answer = kuaidi100_query(config, http, carrier=carrier, number=tracking_number)
    except TerminalError as exc:
        recorder.mark_last(OutboundOutcome.TERMINAL, str(exc))
        channel_account_attention_mark(account_id=account.pk, reason=str(exc))
        raise
    except (TransientError, PlatformError) as exc:
        recorder.open_calls_close(OutboundOutcome.TERMINAL, str(exc))
        raise
    if answer is None:
        return QueryNow(account.code, False, 0)
    trackings = _normalized(config, answer, status_map_for_kind(kind=KIND))
    with transaction.atomic():
        work = OrderWork()
        tracking_record_locked(trackings, known_orders=(), work=work)
        work.flush()
    return QueryNow(account.code, True, sum(len(tracking.events) for tracking in trackings))
