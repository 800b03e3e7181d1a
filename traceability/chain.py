"""The hash chain, pure: canonical encoding of an event and the link hash. No database here.

``hash(seq) = sha256(prev_hash ‖ canonical(event, seq))`` where ``prev_hash`` is the hex hash
of seq − 1 (64 zeros for seq 1) and ``canonical`` is UTF-8 JSON with sorted keys, no spaces,
times in UTC ISO 8601 with microseconds. The sequence number is part of the encoding, so moving
an event to another place breaks the chain exactly where it moved.
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
    """The fields of one ``LedgerEvent`` that the chain covers."""

    event_id: int
    created_at: datetime
    actor: str
    action: str
    order_id: int | None
    subject_type: str
    subject_id: str
    source_system: str
    before: Any
    after: Any
    references: Any

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> EventFields:
        """From ``SELECT id, created_at, actor, action, order_id, subject_type, subject_id,
        source_system, before, after, "references"`` (JSON columns as text or decoded)."""
        return cls(
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
            _json(row[8]), _json(row[9]), _json(row[10]),
        )  # fmt: skip


EVENT_COLUMNS = (
    "e.id, e.created_at, e.actor, e.action, e.order_id, e.subject_type, e.subject_id, "
    'e.source_system, e.before, e.after, e."references"'
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def canonical_encoding(seq: int, event: EventFields) -> bytes:
    payload = {
        "v": CANONICAL_VERSION,
        "seq": seq,
        "id": event.event_id,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "order_id": event.order_id,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "source_system": event.source_system,
        "before": event.before,
        "after": event.after,
        "references": event.references,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, seq: int, event: EventFields) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_encoding(seq, event)).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)
