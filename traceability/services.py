"""Writes to the ledger: append (any caller), seal and checkpoint (the sealer only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from orderhub.sql import prepared_cursor, rows_copy
from traceability import checkpoints, conf, statements
from traceability.chain import GENESIS_HASH, EventFields, link_hash, utc_now
from traceability.models import LedgerEvent

logger = logging.getLogger(__name__)


def ledger_append(
    *,
    action: str,
    actor: str,
    order_id: int | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
    source_system: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    references: dict[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction (it commits or rolls back with it);
    returns its id.

    A plain INSERT: no lock, no read, so appends from many transactions never wait on each
    other. The sealer gives the event its place in the chain after it commits. Values must be
    JSON-serialisable. Never updates an existing event.
    """
    params: dict[str, Any] = {
        "created_at": timezone.now(),
        "actor": actor[:150],
        "action": action,
        "order_id": order_id,
        "subject_type": subject_type,
        "subject_id": str(subject_id)[:64],
        "source_system": source_system[:64],
        "before": Jsonb(before or {}),
        "after": Jsonb(after or {}),
        "references": Jsonb(references or {}),
    }
    # The hot path of every append: one statement, none of the ORM's per-instance work.
    with prepared_cursor() as cursor:
        cursor.execute(statements.append(), params)
        return int(cursor.fetchone()[0])


def ledger_append_returning_sql(*, rows: str, subject_id: str, references: str) -> str:
    """SQL that appends one event per row of the CTE ``rows`` inside the caller's statement.

    For a hot path that writes its own row and the ledger event in ONE statement
    (``WITH rows AS (INSERT ... RETURNING ...) <this>``). ``subject_id`` and ``references`` are
    SQL expressions over ``rows`` (text and jsonb). Parameters, in order: created_at, actor,
    action, subject_type, source_system, after (JSON text). Same contract as ``ledger_append``.
    """
    return statements.append_returning(rows=rows, subject_id=subject_id, references=references)


@dataclass(frozen=True, slots=True)
class LedgerEventIn:
    """One event to append; see ``ledger_append`` for the fields."""

    action: str
    actor: str
    order_id: int | None = None
    subject_type: str = ""
    subject_id: str | int = ""
    source_system: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    references: dict[str, Any] | None = None


_APPEND_COLUMNS = (
    "created_at", "actor", "action", "order_id", "subject_type", "subject_id",
    "source_system", "before", "after", "references",
)  # fmt: skip


def ledger_append_many(*, events: list[LedgerEventIn]) -> None:
    """Append several events with one COPY, in list order (their ids grow in that order),
    inside the caller's transaction.

    Same contract as ``ledger_append``; a service that writes several events for one change
    collects them and appends them here, once, before it returns.
    """
    if not events:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        rows_copy(
            cursor,
            LedgerEvent._meta.db_table,
            _APPEND_COLUMNS,
            (
                (
                    now,
                    event.actor[:150],
                    event.action,
                    event.order_id,
                    event.subject_type,
                    str(event.subject_id)[:64],
                    event.source_system[:64],
                    Jsonb(event.before or {}),
                    Jsonb(event.after or {}),
                    Jsonb(event.references or {}),
                )
                for event in events
            ),
        )


@dataclass(frozen=True, slots=True)
class SealResult:
    sealed: int
    head_seq: int
    head_hash: str
    skipped_locked: bool = False


@transaction.atomic
def ledger_seal(
    *, max_events: int = 50_000, batch_size: int = 5_000, sweep: bool = False
) -> SealResult:
    """Give committed, unsealed events their place in the chain, in id order.

    Holds the sealer's advisory lock for the transaction; a second sealer returns at once
    (``skipped_locked``). Only committed events are visible, so an event whose transaction
    commits late (after a higher id was sealed) is sealed on a later run, after it: the chain
    order is the sealing order. Events more than ``LEDGER_SEAL_LOOKBACK`` ids below the newest
    sealed one are only looked at with ``sweep=True`` (``ledger_seal --sweep``). Idempotent:
    a sealed event is never sealed again (unique ``event_id``).
    """
    with connection.cursor() as cursor:
        cursor.execute(statements.seal_lock(), {"key": statements.SEAL_LOCK_KEY})
        if not cursor.fetchone()[0]:
            return SealResult(0, 0, "", skipped_locked=True)
        cursor.execute(statements.chain_head())
        head = cursor.fetchone()
        seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
        cursor.execute(statements.newest_sealed_event())
        newest = cursor.fetchone()[0] or 0
        after_id = 0 if sweep else max(0, newest - conf.seal_lookback_ids())
        sealed = 0
        sealed_at = utc_now()
        while sealed < max_events:
            cursor.execute(
                statements.unsealed_batch(),
                {"after_id": after_id, "limit": min(batch_size, max_events - sealed)},
            )
            rows = cursor.fetchall()
            if not rows:
                break
            seals = []
            for row in rows:
                seq += 1
                event = EventFields.from_row(row)
                prev_hash_of_this = prev_hash
                prev_hash = link_hash(prev_hash_of_this, seq, event)
                seals.append((seq, event.event_id, prev_hash_of_this, prev_hash, sealed_at))
            with cursor.cursor.copy(statements.seal_copy()) as copy:
                for item in seals:
                    copy.write_row(item)
            sealed += len(rows)
            after_id = rows[-1][0]
    if sealed:
        logger.debug("ledger.sealed %s events, head seq %s", sealed, seq)
    return SealResult(sealed, seq, prev_hash)


def ledger_checkpoint_write(*, force: bool = False) -> checkpoints.Checkpoint | None:
    """Sign the committed chain head as the newest checkpoint, when it is not signed yet.

    Cheap when nothing changed: one indexed query and one small file read, nothing written.
    Otherwise the new checkpoint replaces ``checkpoint-newest.json``; it is also kept as a
    file of its own (never rewritten) when it is the first of its ``LEDGER_CHECKPOINT_INTERVAL``
    or with ``force``, so the folder grows by at most one file per interval whatever the seal
    cadence. Serialised by a lock file in the folder, so the newest checkpoint never moves
    back. Call outside a transaction that sealed: the head must be committed before it is
    signed.
    """
    with connection.cursor() as cursor:
        cursor.execute(statements.chain_head())
        head = cursor.fetchone()
    if head is None:
        return None
    with checkpoints.checkpoint_folder_lock():
        newest = checkpoints.checkpoint_newest()
        if newest is not None and newest.seq >= head[0]:
            return None
        now = utc_now()
        checkpoint = checkpoints.checkpoint_sign(
            seq=head[0], head_hash=head[1], count=head[0], signed_at=now.isoformat()
        )
        interval = max(1, conf.checkpoint_interval_seconds())
        first_of_interval = newest is None or int(now.timestamp()) // interval != (
            int(_parse_time(newest.signed_at).timestamp()) // interval
        )
        if force or first_of_interval:
            checkpoints.checkpoint_store(checkpoint)
        checkpoints.checkpoint_newest_store(checkpoint)
    logger.debug("ledger.checkpoint seq=%s head=%s", checkpoint.seq, checkpoint.head_hash)
    return checkpoint


def ledger_seal_and_checkpoint(
    *, force_checkpoint: bool = False, sweep: bool = False
) -> SealResult:
    """One sealer run (every ``LEDGER_SEAL_INTERVAL_SECONDS``): seal (own transaction), then
    sign a checkpoint of the new head if anything was sealed since the newest one."""
    result = ledger_seal(sweep=sweep)
    if not result.skipped_locked:
        ledger_checkpoint_write(force=force_checkpoint)
    return result


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@transaction.atomic
def trace_export_record(*, order_id: int, user: Any, size: int) -> int:
    """Record that a person downloaded an order's trace report (a human action, A.8.15)."""
    return ledger_append(
        action="trace.exported",
        actor=user.get_username(),
        order_id=order_id,
        subject_type="order",
        subject_id=order_id,
        source_system="orderhub",
        after={"format": "pdf", "bytes": size},
    )
