"""The journal's segment files on their own (no database): records, torn tails, claims."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from channels_app import journal
from channels_app.journal import journal_append, journal_status_read, records_decode


@pytest.fixture
def journal_dir(tmp_path: Path, settings: Any) -> Path:
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    return Path(settings.JOURNAL_DIR)


def _append(n: int) -> None:
    journal_append(
        code="site", body=f"body-{n}".encode(), headers={"x-n": str(n)}, query={"q": "1"},
        received_at=datetime(2026, 5, 1, 2, 0, n, tzinfo=UTC), verified=n % 2 == 0,
    )  # fmt: skip


def test_records_come_back_exactly_as_appended(journal_dir: Path) -> None:
    for n in range(3):
        _append(n)
    (segment,) = journal_dir.glob("seg-*.open")
    records = list(records_decode(segment.read_bytes()))
    assert [(r.code, r.body, r.headers, r.query, r.received_at, r.verified) for r in records] == [
        ("site", f"body-{n}".encode(), {"x-n": str(n)}, {"q": "1"},
         datetime(2026, 5, 1, 2, 0, n, tzinfo=UTC), n % 2 == 0)
        for n in range(3)
    ]  # fmt: skip
    assert records[0].arrival_ns < records[1].arrival_ns < records[2].arrival_ns


def test_a_torn_tail_is_skipped_and_the_records_before_it_are_kept(journal_dir: Path) -> None:
    _append(0)
    _append(1)
    (segment,) = journal_dir.glob("seg-*")
    with open(segment, "ab") as handle:
        handle.write(b"OHJ1\x00\x00\x01\x00garbage")
    assert [r.body for r in records_decode(segment.read_bytes())] == [b"body-0", b"body-1"]
    status = journal_status_read()
    assert (status.segments, status.records) == (1, 2)
    assert status.oldest_received_at == datetime(2026, 5, 1, 2, 0, 0, tzinfo=UTC)


def test_a_second_claim_never_replaces_an_unreplayed_one(journal_dir: Path) -> None:
    """A replay that failed (database still down) leaves its claim; the writer goes on in a
    segment of the same name; the next claim must keep both (found by the database drill)."""
    _append(0)
    first = journal.segments_claim()
    _append(1)
    both = journal.segments_claim()
    assert len(first) == 1
    assert len(both) == 2
    bodies = sorted(r.body for path in both for r in records_decode(path.read_bytes()))
    assert bodies == [b"body-0", b"body-1"]
    assert journal_status_read().records == 2


def test_a_write_failure_raises_and_leaves_nothing(tmp_path: Path, settings: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.JOURNAL_DIR = str(blocker / "journal")
    with pytest.raises(journal.JournalWriteError):
        _append(0)


def test_an_empty_segment_is_nothing_to_replay(journal_dir: Path) -> None:
    journal_dir.mkdir(parents=True)
    (journal_dir / "seg-00000000000000000001-1.open").write_bytes(b"")
    assert journal.journal_has_segments() is False
    assert journal.segments_claim() == []
    _append(0)
    assert journal.journal_has_segments() is True
