"""The hash chain, pure: canonical encoding of an event and the link hash. No database here.

``hash(seq) = sha256(prev_hash ‖ canonical(seq, event))`` where ``prev_hash`` is the hex hash
of seq - 1 (64 zeros for seq 1) and ``canonical`` is, in UTF-8::

    JSON [1, seq, id, created_at, actor, action, order_id, subject_type, subject_id,
          source_system]  (compact, non-ASCII kept)
    0x1E before 0x1E after 0x1E references   (each in PostgreSQL's jsonb text form)

``created_at`` is UTC ISO 8601 with microseconds (``2026-03-01T08:00:00.000000+00:00``). The
JSON columns are taken in the text form PostgreSQL prints for jsonb (keys ordered, one space
after ``:`` and ``,``), which is deterministic for a stored value; ``pg_dump`` keeps it. The
sequence number is part of the encoding, so moving an event to another place breaks the chain
exactly where it moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
CANONICAL_VERSION = 1


@dataclass(frozen=True, slots=True)
class EventFields:
    """The fields of one ``LedgerEvent`` that the chain covers, as the database prints them."""

    event_id: int
    created_at: str
    actor: str
    action: str
    order_id: int | None
    subject_type: str
    subject_id: str
    source_system: str
    before: str
    after: str
    references: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> EventFields:
        """From a row selected with ``EVENT_COLUMNS``."""
        return cls(*row[:11])


# created_at as UTC text and the JSON columns as jsonb text: no parsing, no time zones.
EVENT_COLUMNS = (
    "e.id, to_char(e.created_at AT TIME ZONE 'UTC', "
    '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'), e.actor, e.action, e.order_id, '
    "e.subject_type, e.subject_id, e.source_system, e.before::text, e.after::text, "
    'e."references"::text'
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def canonical_encoding(seq: int, event: EventFields) -> bytes:
    head = _dumps(
        [
            CANONICAL_VERSION, seq, event.event_id, event.created_at, event.actor, event.action,
            event.order_id, event.subject_type, event.subject_id, event.source_system,
        ]
    )  # fmt: skip
    return "\x1e".join((head, event.before, event.after, event.references)).encode()


def link_hash(prev_hash: str, seq: int, event: EventFields) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_encoding(seq, event)).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)
