"""A short drill of each implemented fault against a real intake: nothing lost or duplicated."""

from __future__ import annotations

import pytest

from channels_app.drill.runner import drill_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("fault", ["database", "redis", "worker"])
def test_a_short_drill_loses_and_duplicates_nothing(fault: str) -> None:
    report = drill_run(fault=fault, deliveries=24, concurrency=2, workers=1)
    assert (report.sent, report.answered_2xx, report.answered_other) == (24, 24, {})
    assert (report.stored, report.processed, report.duplicated, report.lost) == (24, 24, 0, 0)
    assert report.drain_seconds < 30
