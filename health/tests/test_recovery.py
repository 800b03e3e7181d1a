"""The recovery cycle selector and ``recovery_report`` on constructed anomalies: exact
figures (PostgreSQL ``percentile_cont``, linear interpolation), one report statement per call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from health.models import Anomaly
from health.recovery import RecoveryRow, recovery_cycle
from orderhub.models import Order
from tests.factories import WarehouseFactory

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def anomaly(
    kind: str, order: Order, evidence: float, opened: float, resolved: float | None, how: str = ""
) -> None:
    Anomaly.objects.create(
        kind=kind, order=order, subject_key=f"order:{order.pk}", evidence_at=at(evidence),
        opened_at=at(opened), resolved_at=None if resolved is None else at(resolved),
        resolution=how,
    )  # fmt: skip


@pytest.fixture
def history() -> None:
    """o1 (shop-a, WH-A): sync_lag 10→70 auto and ghost_shipment 50→350 auto overlap (one
    cycle, 340 s); o2 (shop-a, WH-B): status_conflict 5→605 by a person, then sync_lag from
    1020 still open; o3 (shop-b, no warehouse): stock_shortage 100→190 auto whose evidence
    time is 30 s after the opening (a clock ahead: detection 0); a sync_lag of o3 a day
    before."""
    wh_a, wh_b = WarehouseFactory.create(code="WH-A"), WarehouseFactory.create(code="WH-B")
    o1 = Order.objects.create(channel="shop-a", external_id="o1", warehouse=wh_a)
    o2 = Order.objects.create(channel="shop-a", external_id="o2", warehouse=wh_b)
    o3 = Order.objects.create(channel="shop-b", external_id="o3")
    anomaly("sync_lag", o1, 0, 10, 70, "auto")
    anomaly("ghost_shipment", o1, 20, 50, 350, "auto")
    anomaly("status_conflict", o2, 0, 5, 605, "manual")
    anomaly("sync_lag", o2, 1000, 1020, None)
    anomaly("stock_shortage", o3, 130, 100, 190, "auto")
    anomaly("sync_lag", o3, -86400, -86400, -86370, "auto")


def row(group: str, *values: object) -> RecoveryRow:
    return RecoveryRow(group, *values)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_by_kind(history: None) -> None:
    assert recovery_cycle(since=SINCE, until=UNTIL, group_by="kind") == [
        row("ghost_shipment", 1, 1, 30.0, 30.0, 300.0, 300.0, 0.0, 300.0, 300.0),
        row("status_conflict", 1, 1, 5.0, 5.0, 600.0, 600.0, 0.0, 600.0, 600.0),
        row("stock_shortage", 1, 1, 0.0, 0.0, 90.0, 90.0, 1.0, 90.0, 90.0),
        # detect [10, 20]; only o1's cycle finished (o2's is still open).
        row("sync_lag", 2, 2, 15.0, 19.0, 60.0, 60.0, 0.5, 60.0, 60.0),
    ]


@pytest.mark.django_db
def test_by_channel(history: None) -> None:
    rows = recovery_cycle(since=SINCE, until=UNTIL, group_by="channel")
    # shop-a: detect [5, 10, 20, 30], resolve [60, 300, 600], cycles [340, 600].
    assert rows == [
        row("shop-a", 4, 2, 15.0, 27.0, 300.0, 540.0, 0.25, 470.0, pytest.approx(574.0)),
        row("shop-b", 1, 1, 0.0, 0.0, 90.0, 90.0, 1.0, 90.0, 90.0),
    ]


@pytest.mark.django_db
def test_by_warehouse_and_scoped(history: None) -> None:
    assert recovery_cycle(since=SINCE, until=UNTIL, group_by="warehouse") == [
        row("", 1, 1, 0.0, 0.0, 90.0, 90.0, 1.0, 90.0, 90.0),
        row("WH-A", 2, 1, 20.0, 28.0, 180.0, 276.0, 0.5, 340.0, 340.0),
        row("WH-B", 2, 1, 12.5, 18.5, 600.0, 600.0, 0.0, 600.0, 600.0),
    ]
    assert [r.group for r in recovery_cycle(
        since=SINCE, until=UNTIL, group_by="kind", warehouse_codes=["WH-A"]
    )] == ["ghost_shipment", "sync_lag"]  # fmt: skip
    assert recovery_cycle(since=SINCE, until=UNTIL, group_by="kind", warehouse_codes=[]) == []


@pytest.mark.django_db
def test_by_day_in_one_statement(history: None, settings: object) -> None:
    with CaptureQueriesContext(connection) as queries:
        rows = recovery_cycle(since=T0 - timedelta(days=2), until=UNTIL, group_by="day")
    # The report itself, after the memory setting of its transaction.
    statements = [query["sql"] for query in queries if not query["sql"].startswith(
        ("SAVEPOINT", "RELEASE SAVEPOINT")
    )]  # fmt: skip
    assert len(statements) == 2
    assert statements[0] == "SELECT set_config('work_mem', '64MB', true)"
    assert rows == [
        row("2026-03-01", 1, 1, 0.0, 0.0, 30.0, 30.0, 1.0, 30.0, 30.0),
        # detect [0, 5, 10, 20, 30], resolve [60, 90, 300, 600], cycles [90, 340, 600].
        row("2026-03-02", 5, 3, 10.0, 26.0, 195.0, pytest.approx(510.0), 0.4, 340.0, 548.0),
    ]


@pytest.mark.django_db
def test_an_empty_window_and_an_unknown_grouping() -> None:
    assert recovery_cycle(since=SINCE, until=UNTIL, group_by="kind") == []
    with pytest.raises(ValueError, match="group_by must be one of"):
        recovery_cycle(since=SINCE, until=UNTIL, group_by="colour")


@pytest.mark.django_db
def test_recovery_report_prints_a_table_and_json(history: None) -> None:
    out = StringIO()
    args = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--by", "channel"]
    call_command("recovery_report", *args, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["by"], [r["group"] for r in data["rows"]]) == ("channel", ["shop-a", "shop-b"])
    assert data["rows"][1] == {
        "group": "shop-b", "anomalies": 1, "orders": 1, "detect_p50_s": 0.0,
        "detect_p90_s": 0.0, "resolve_p50_s": 90.0, "resolve_p90_s": 90.0,
        "auto_within_2min_share": 1.0, "cycle_p50_s": 90.0, "cycle_p90_s": 90.0,
    }  # fmt: skip
    out = StringIO()
    call_command("recovery_report", *args, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "channel", "anomalies", "orders", "detect", "p50", "s", "detect", "p90", "s", "resolve",
        "p50", "s", "resolve", "p90", "s", "auto", "<2min", "cycle", "p50", "s", "cycle", "p90",
        "s",
    ]  # fmt: skip
    assert lines[1].split() == [
        "shop-a", "4", "2", "15.0", "27.0", "300.0", "540.0", "25.0%", "470.0", "574.0",
    ]  # fmt: skip
    assert lines[2].split() == [
        "shop-b", "1", "1", "0.0", "0.0", "90.0", "90.0", "100.0%", "90.0", "90.0",
    ]  # fmt: skip
