"""The undetectable tail: every sealer run that sealed something signs the newest checkpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from traceability import checkpoints, services
from traceability.services import ledger_checkpoint_write, ledger_seal, ledger_seal_and_checkpoint
from traceability.tests.test_ledger import T0, append_events, run_verify, tamper


class Clock:
    """``utc_now`` of the sealer, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> object:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(services, "utc_now", clock)
    return clock


def folder(directory: Path) -> dict[str, tuple[str, int]]:
    """Every checkpoint file: name → (content, modification time in ns)."""
    return {
        path.name: (path.read_text(), path.stat().st_mtime_ns)
        for path in sorted(directory.glob("checkpoint-*"))
    }


def newest(directory: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((directory / "checkpoint-newest.json").read_text())
    return data


@pytest.mark.django_db
def test_each_seal_run_signs_the_new_head_and_keeps_one_per_interval(
    ledger_settings: Path, clock: Clock, settings: SettingsWrapper
) -> None:
    settings.LEDGER_CHECKPOINT_INTERVAL = 60
    heads = []
    # A busy minute and a bit: a seal run every 2 s, new events before each run.
    for _run in range(32):
        append_events(3)
        ledger_seal_and_checkpoint()
        heads.append(newest(ledger_settings)["seq"])
        clock.advance(2)
    assert heads == list(range(3, 97, 3))  # the newest checkpoint always names the head
    # Kept: the first run (T0) and the first in the next minute (T0 + 60 s, run 31).
    assert sorted(path.name for path in ledger_settings.glob("checkpoint-*")) == [
        "checkpoint-000000000003.json", "checkpoint-000000000093.json", "checkpoint-newest.json",
    ]  # fmt: skip
    assert [c.seq for c in checkpoints.checkpoint_list()] == [3, 93, 96]
    code, out, err = run_verify()
    assert (code, err) == (0, "")
    assert "OK: 96 events, head seq 96" in out
    assert "3 signed checkpoints matched" in out


@pytest.mark.django_db
def test_no_new_events_no_new_checkpoint(ledger_settings: Path, clock: Clock) -> None:
    append_events(4)
    ledger_seal_and_checkpoint()
    before = folder(ledger_settings)
    assert sorted(before) == ["checkpoint-000000000004.json", "checkpoint-newest.json"]
    for _run in range(5):
        clock.advance(2)
        result = ledger_seal_and_checkpoint()
        assert (result.sealed, result.head_seq) == (0, 4)
    clock.advance(120)  # even a new interval: nothing to sign, nothing written
    ledger_seal_and_checkpoint()
    assert ledger_checkpoint_write() is None
    assert folder(ledger_settings) == before


@pytest.mark.django_db
def test_deleting_the_newest_events_after_a_seal_run_is_reported() -> None:
    events = append_events(10)
    ledger_seal_and_checkpoint()
    ledger_seal_and_checkpoint()  # (nothing new: the checkpoint stays at seq 10)
    tamper("DELETE FROM traceability_ledgerseal WHERE seq >= 9")
    tamper("DELETE FROM traceability_ledgerevent WHERE id >= %s", [events[8].pk])
    code, _out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 9 (no event): chain ends before a signed checkpoint" in err


@pytest.mark.django_db
def test_rewriting_the_newest_event_after_a_seal_run_is_reported() -> None:
    """Even with its seal recomputed: the newest checkpoint names the old head."""
    events = append_events(10)
    ledger_seal_and_checkpoint()
    tamper("UPDATE traceability_ledgerevent SET after = '{\"n\": 7}' WHERE id = %s", [events[9].pk])
    tamper("DELETE FROM traceability_ledgerseal WHERE seq = 10")
    assert ledger_seal().sealed == 1  # re-sealed with a fresh, consistent hash
    code, _out, err = run_verify()
    assert code == 1
    assert f"BROKEN at seq 10 (event {events[9].pk}): signed checkpoint names another head" in err


@pytest.mark.django_db
def test_verify_names_the_sealed_tail_no_checkpoint_covers_yet() -> None:
    append_events(5)
    ledger_seal_and_checkpoint()
    append_events(2)
    ledger_seal()  # sealed, the checkpoint not written yet (the sealer is between steps)
    code, _out, err = run_verify()
    assert code == 0
    assert err.splitlines() == [
        "warning: 2 sealed events after the newest signed checkpoint (seq 5) are not covered "
        "by a signature yet"
    ]


@pytest.mark.django_db
def test_a_folder_of_the_previous_layout_is_continued(ledger_settings: Path) -> None:
    """Kept files only (no checkpoint-newest.json): the newest kept one is the newest."""
    append_events(3)
    ledger_seal()
    ledger_checkpoint_write(force=True)
    (ledger_settings / "checkpoint-newest.json").unlink()
    assert checkpoints.checkpoint_newest(ledger_settings).seq == 3  # type: ignore[union-attr]
    assert ledger_checkpoint_write() is None
    append_events(1)
    ledger_seal()
    written = ledger_checkpoint_write()
    assert written is not None
    assert (written.seq, newest(ledger_settings)["seq"]) == (4, 4)
