"""A short drill of each implemented fault against a real intake: nothing lost or duplicated."""

from __future__ import annotations

import pytest

from channels_app.drill.runner import drill_run, namespaces_allowed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("fault", ["database", "database-hung", "redis", "worker", "sealer"])
def test_a_short_drill_loses_and_duplicates_nothing(fault: str) -> None:
    report = drill_run(fault=fault, deliveries=24, concurrency=2, workers=1)
    assert (report.sent, report.answered_2xx, report.answered_other) == (24, 24, {})
    assert (report.stored, report.processed, report.duplicated, report.lost) == (24, 24, 0, 0)
    assert report.drain_seconds < 30
    assert report.failed is False
    if fault == "database-hung":
        # Without the budget a store would wait for the hung database until the client's
        # 10 s timeout; with it (1 s) the slowest answer is the one that found it hung.
        assert report.fault_max_ms < 3000
    if fault == "sealer":
        assert report.killed_mid_seal is True
        assert report.ledger_events > 24  # order.created and more for each order
        assert (report.ledger_sealed, report.ledger_double_sealed) == (report.ledger_events, 0)
        assert report.ledger_verify == "OK"


@pytest.mark.parametrize(
    "by",
    [
        pytest.param(
            "tmpfs",
            marks=pytest.mark.skipif(not namespaces_allowed(), reason="no user namespaces"),
        ),
        "quota",
    ],
)
def test_a_disk_full_drill_answers_503_for_what_it_cannot_keep(by: str) -> None:
    report = drill_run(
        fault="disk-full", deliveries=30, concurrency=2, workers=1, journal_bytes=4096,
        disk_full_by=by,
    )  # fmt: skip
    assert report.disk_full_by == by
    refused = report.answered_other.get(503, 0)
    assert refused >= 1
    assert report.answered_other == {503: refused}
    assert (report.sent, report.answered_2xx, report.redelivered) == (30, 30 - refused, refused)
    # Every 2xx was kept (journaled, then replayed); the refused ones were stored when sent
    # again: nothing answered 2xx is missing, nothing is there twice.
    assert (report.stored, report.processed, report.duplicated, report.lost) == (30, 30, 0, 0)
