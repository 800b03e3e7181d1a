"""Recompute the chain and check it against the signed checkpoints. Reads only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection, transaction

from traceability import checkpoints, statements
from traceability.chain import GENESIS_HASH, EventFields, link_hash


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    event_id: int | None
    problem: str
    expected: str
    found: str

    def describe(self) -> str:
        event = f"event {self.event_id}" if self.event_id is not None else "no event"
        return (
            f"seq {self.seq} ({event}): {self.problem}; expected {self.expected}, "
            f"found {self.found}"
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    events_checked: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    unsealed: int
    broken: BrokenLink | None = None
    warnings: tuple[str, ...] = field(default=())
    # The seq the newest signed checkpoint covers (0: none): sealed events after it are the
    # tail that no signature covers yet.
    newest_checkpoint_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None


def ledger_counts() -> tuple[int, int]:
    """(sealed events, unsealed events)."""
    with connection.cursor() as cursor:
        cursor.execute(statements.sealed_count())
        sealed = cursor.fetchone()[0]
        cursor.execute(statements.unsealed_count())
        unsealed = cursor.fetchone()[0]
    return sealed, unsealed


def ledger_verify(
    *,
    public_key: Ed25519PublicKey,
    checkpoint_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 20_000,
) -> VerifyReport:
    """Walk the chain in seq order and stop at the first broken link.

    A link is broken when its seq is not the next one (a seal row is gone), its event is gone,
    its ``prev_hash`` is not the hash before it (rows moved), its hash is not the recomputed
    one (event or seal changed), or a checkpoint at its seq names another head. Every
    checkpoint's signature is checked first (the kept ones and the newest); one signed by
    another key or altered is broken at its seq. A checkpoint beyond the chain's end means
    events were cut off the end: the newest checkpoint is at most one seal run old, so this
    catches a cut of all but the events sealed since.
    """
    signed = checkpoints.checkpoint_list(checkpoint_dir)
    by_seq: dict[int, set[str]] = {}
    for checkpoint in signed:
        if not checkpoints.checkpoint_signature_valid(checkpoint, public_key):
            return _report(
                0, 0, GENESIS_HASH, 0,
                BrokenLink(checkpoint.seq, None, "checkpoint signature invalid",
                           "a valid Ed25519 signature", f"key id {checkpoint.key_id}"),
            )  # fmt: skip
        by_seq.setdefault(checkpoint.seq, set()).add(checkpoint.head_hash)
    _sealed, unsealed = ledger_counts()

    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    matched_checkpoints = 0
    broken: BrokenLink | None = None
    with transaction.atomic():
        cursor = connection.chunked_cursor()
        cursor.execute(statements.chain_walk())
        while broken is None and (rows := cursor.fetchmany(chunk_size)):
            for row in rows:
                seq, event_id, stored_prev, stored_hash = row[0], row[1], row[2], row[3]
                if seq != expected_seq:
                    broken = BrokenLink(
                        expected_seq, None, "sequence gap (a sealed event was removed)",
                        f"seq {expected_seq}", f"seq {seq}",
                    )  # fmt: skip
                    break
                if row[4] is None:
                    broken = BrokenLink(
                        seq, event_id, "event missing", f"event {event_id}", "nothing"
                    )
                    break
                if stored_prev != prev_hash:
                    broken = BrokenLink(
                        seq, event_id, "previous hash does not match", prev_hash, stored_prev
                    )
                    break
                computed = link_hash(prev_hash, seq, EventFields.from_row(row[4:]))
                if computed != stored_hash:
                    broken = BrokenLink(
                        seq, event_id, "hash does not match the event's contents",
                        computed, stored_hash,
                    )  # fmt: skip
                    break
                heads = by_seq.get(seq)
                if heads is not None:
                    if heads != {computed}:
                        broken = BrokenLink(
                            seq, event_id, "signed checkpoint names another head",
                            min(heads - {computed}), computed,
                        )  # fmt: skip
                        break
                    matched_checkpoints += 1
                prev_hash = computed
                expected_seq += 1
                checked += 1
            if progress is not None:
                progress(len(rows))
        cursor.close()
    head_seq = expected_seq - 1
    if broken is None:
        beyond = [checkpoint for checkpoint in signed if checkpoint.seq > head_seq]
        if beyond:
            broken = BrokenLink(
                head_seq + 1, None, "chain ends before a signed checkpoint",
                f"events up to seq {beyond[-1].seq}", f"chain ends at seq {head_seq}",
            )  # fmt: skip
    newest = signed[-1].seq if signed else 0
    return _report(checked, head_seq, prev_hash, matched_checkpoints, broken, unsealed, newest)


def _report(
    checked: int,
    head_seq: int,
    head_hash: str,
    matched: int,
    broken: BrokenLink | None,
    unsealed: int = 0,
    newest_checkpoint_seq: int = 0,
) -> VerifyReport:
    warnings = []
    if unsealed:
        warnings.append(f"{unsealed} events are not sealed yet")
    if broken is None and head_seq > newest_checkpoint_seq:
        after = (
            f"after the newest signed checkpoint (seq {newest_checkpoint_seq})"
            if newest_checkpoint_seq
            else "(no signed checkpoint yet)"
        )
        warnings.append(
            f"{head_seq - newest_checkpoint_seq} sealed events {after} are not covered by a "
            "signature yet"
        )
    return VerifyReport(
        checked, head_seq, head_hash, matched, unsealed, broken, tuple(warnings),
        newest_checkpoint_seq,
    )  # fmt: skip
