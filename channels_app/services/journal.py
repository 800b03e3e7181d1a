"""Intake with the emergency journal in front: store, or journal and answer; replay later.

``delivery_receive`` is what the intake edge calls for a delivery within the size limit. It
tries the normal store (``intake.webhook_receive``); when the database cannot be reached it
journals the raw delivery (``channels_app.journal``, fsynced) and answers the platform's own
success response, or 503 when even the journal write fails. A delivery is never answered as
accepted unless it is in the database or fsynced in the journal.

``journal_replay`` feeds journaled deliveries through the same ``webhook_receive`` in arrival
order. It is idempotent: a record already stored (same account, body hash and arrival time)
is skipped, and a record stored twice after a crash is deduped by the inbox's unique key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from channels_app import journal
from channels_app.adapters.base import HookResponse, InboundRequest, VerificationError, adapters
from channels_app.dbbudget import db_budget
from channels_app.models import InboundMessage, QuarantinedDelivery
from channels_app.services import intake

logger = logging.getLogger(__name__)

# The database is unreachable, or went away mid-statement.
DATABASE_DOWN_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# A delivery for an account this process has never read: accepted, verified on replay.
ACCEPTED_UNVERIFIED = HookResponse(status=200, body=b'{"ok":true}')
# How often a process that journaled retries the replay while the database is still down.
_REPLAY_RETRY_SECONDS = 1.0
# Added to the journal-only window a failed probe opens, so that it outlasts the next probe.
_PROBE_SLACK = 0.5
# How often a storing process looks for segments another (maybe dead) process left.
_SEGMENT_LOOK_SECONDS = 5.0


class _State:
    def __init__(self) -> None:
        self.down_until = 0.0
        self.looked_at = 0.0
        self.lock = threading.Lock()
        self.replayer: threading.Thread | None = None


_state = _State()


def delivery_receive(
    *,
    code: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    received_at: datetime,
) -> HookResponse:
    """Store the delivery, or journal it when the database cannot take it; the answer.

    Header names must be lower-case. Never raises for a database outage.
    """
    tried = time.monotonic() >= _state.down_until
    if tried:
        stored = _store(code=code, body=body, headers=headers, query=query, received_at=received_at)
        if stored is not None:
            return stored
    response = _journal(code=code, body=body, headers=headers, query=query, received_at=received_at)
    if response is not intake.UNAVAILABLE or tried:
        return response
    # Not journaled (the disk full) and the database skipped for a while: it may be back.
    stored = _store(code=code, body=body, headers=headers, query=query, received_at=received_at)
    return intake.UNAVAILABLE if stored is None else stored


def _store(
    *,
    code: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    received_at: datetime,
) -> HookResponse | None:
    """The normal store within the budget; None when the database could not take it."""
    try:
        with db_budget(settings.JOURNAL_DB_BUDGET_MS / 1000):
            result = intake.webhook_receive(
                code=code, body=body, headers=headers, query=query, received_at=received_at
            )
    except DATABASE_DOWN_ERRORS as error:
        _state.down_until = time.monotonic() + settings.JOURNAL_DB_RETRY_MS / 1000
        logger.warning("channels.journal.database_down code=%s error=%s", code, error)
        _connection_discard()
        return None
    _state.down_until = 0.0
    _segments_look()
    return result.response


def _connection_discard() -> None:
    with contextlib.suppress(DatabaseError):
        connection.close()


def _journal(
    *,
    code: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    received_at: datetime,
) -> HookResponse:
    request = InboundRequest(body=body, headers=headers, query=query, received_at=received_at)
    cached = intake.account_cached(code)
    response, verified = ACCEPTED_UNVERIFIED, False
    if cached is not None and cached[0].kind in adapters:
        account, config = cached
        try:
            response = adapters.get(account.kind)().verify(config, request).response
            verified = True
        except VerificationError as error:
            # Refused as it would be with the database up; journaled so that the replay keeps
            # it in quarantine with its reason (a changed secret is decided there, fresh).
            response = error.response
    try:
        journal.journal_append(
            code=code, body=body, headers=headers, query=query, received_at=received_at,
            verified=verified,
        )  # fmt: skip
    except journal.JournalWriteError:
        return intake.UNAVAILABLE
    _replayer_start()
    return response


def _segments_look() -> None:
    """After a successful store: replay if segments wait (ours or a dead process's)."""
    now = time.monotonic()
    if now - _state.looked_at < _SEGMENT_LOOK_SECONDS:
        return
    _state.looked_at = now
    if journal.journal_has_segments():
        _replayer_start()


def _replayer_start() -> None:
    """A background replayer in this process, retrying until the database takes the journal."""
    with _state.lock:
        if _state.replayer is not None and _state.replayer.is_alive():
            return
        _state.replayer = threading.Thread(
            target=_replay_until_empty, name="journal-replay", daemon=True
        )
        _state.replayer.start()


def _database_answers() -> bool:
    """One cheap round trip within the budget, by the replayer thread.

    While it fails, the deliveries of this process are journaled without trying the database
    (the window is renewed past the next probe), so no platform request waits for a database
    that is down or hung; the first answer ends the window. No segment is claimed while the
    database is down (a claim makes every writer start a new segment file).
    """
    budget = settings.JOURNAL_DB_BUDGET_MS / 1000
    try:
        with db_budget(budget), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DATABASE_DOWN_ERRORS:
        _connection_discard()
        _state.down_until = time.monotonic() + _REPLAY_RETRY_SECONDS + budget + _PROBE_SLACK
        return False
    _state.down_until = 0.0
    return True


def _replay_until_empty() -> None:
    try:
        while True:
            time.sleep(_REPLAY_RETRY_SECONDS)
            if not _database_answers():
                continue
            try:
                journal_replay()
            except journal.JournalBusy:
                pass  # another process replays; look again later
            except DATABASE_DOWN_ERRORS:
                _connection_discard()
                continue
            except Exception:  # a replay bug must not end the retries silently
                logger.exception("channels.journal.replay_failed")
                _connection_discard()
                continue
            if not journal.journal_has_segments():
                return
    finally:
        _connection_discard()


@dataclass(frozen=True, slots=True)
class ReplayResult:
    segments: int
    records: int
    stored: int
    skipped: int
    quarantined: int
    refused: int


def _already_kept(record: journal.JournalRecord, body_sha256: str) -> bool:
    """This very arrival is in the inbox or quarantine (a replay that died after storing)."""
    inbox = InboundMessage.objects.filter(
        account__code=record.code, body_sha256=body_sha256, received_at=record.received_at
    )
    if inbox.exists():
        return True
    return QuarantinedDelivery.objects.filter(
        account_code=record.code[:64], body_sha256=body_sha256, received_at=record.received_at
    ).exists()


def journal_replay() -> ReplayResult:
    """Store every journaled delivery through the normal path, oldest arrival first.

    Holds the journal's replay lock (``JournalBusy`` when another replayer has it). Segments
    are removed only after all their records are stored; a database error stops the replay
    with every unstored record still on disk. Idempotent.
    """
    stored = skipped = quarantined = refused = 0
    with journal.replay_lock():
        segments = journal.segments_claim()
        records = sorted(
            (record for path in segments for record in journal.records_decode(path.read_bytes())),
            key=lambda record: record.arrival_ns,
        )
        for record in records:
            body_sha256 = hashlib.sha256(record.body).hexdigest()
            if _already_kept(record, body_sha256):
                skipped += 1
                continue
            result = intake.webhook_receive(
                code=record.code, body=record.body, headers=record.headers,
                query=record.query, received_at=record.received_at,
            )  # fmt: skip
            if result.message_id is not None:
                stored += 1
            elif result.quarantine_id is not None:
                quarantined += 1
            else:
                # Not stored and not quarantined (the account kept changing): keep it.
                refused += 1
        if refused:
            logger.warning("channels.journal.replay_incomplete refused=%s", refused)
        else:
            for path in segments:
                journal.segment_remove(path)
    logger.info(
        "channels.journal.replayed segments=%s records=%s stored=%s skipped=%s quarantined=%s",
        len(segments), len(records), stored, skipped, quarantined,
    )  # fmt: skip
    return ReplayResult(
        segments=len(segments), records=len(records), stored=stored, skipped=skipped,
        quarantined=quarantined, refused=refused,
    )  # fmt: skip
