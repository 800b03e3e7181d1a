"""Recovery cycle figures: ``recovery_cycle`` (the one statement the board and
``recovery_report`` run) over ``BENCH_RECOVERY_ANOMALIES`` anomalies (default 200,000) of
``BENCH_RECOVERY_ORDERS`` orders (default 20,000), one week, for each grouping; beside the
same run's reference, a plain ``GROUP BY kind`` count and average over the same rows (what any
report over them costs at least). Medians of ``BENCH_RECOVERY_RUNS`` runs (default 5)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.ledger_bench import bench_env, setup_django  # noqa: E402

ANOMALIES = int(os.environ.get("BENCH_RECOVERY_ANOMALIES", "200000"))
ORDERS = int(os.environ.get("BENCH_RECOVERY_ORDERS", "20000"))
RUNS = int(os.environ.get("BENCH_RECOVERY_RUNS", "5"))
CHANNEL = "bench-recovery"
T0 = datetime(2026, 3, 2, tzinfo=UTC)
WEEK = timedelta(days=7)


def ensure_data() -> None:
    """Bench orders over four warehouses and anomalies spread over one week (one every
    ``WEEK / ANOMALIES``): ten kinds, detection 0-59 s, nine in ten resolved after 0-599 s,
    two in three of those ``auto``."""
    from django.db import connection

    from orderhub.models import Order, Warehouse

    for n in range(4):
        Warehouse.objects.update_or_create(
            code=f"BENCH-REC-{n}", defaults={"name": f"bench {n}", "is_active": True}
        )
    warehouses = list(
        Warehouse.objects.filter(code__startswith="BENCH-REC-")
        .order_by("code")
        .values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orderhub_order WHERE channel LIKE %s", [CHANNEL + "%"])
        if cursor.fetchone()[0] < ORDERS:
            cursor.execute("DELETE FROM health_anomaly WHERE subject_key LIKE 'bench-rec:%%'")
            cursor.execute("DELETE FROM orderhub_order WHERE channel LIKE %s", [CHANNEL + "%"])
            Order.objects.bulk_create(
                [
                    Order(
                        channel=f"{CHANNEL}-{n % 3}",
                        external_id=f"R{n}",
                        status="paid",
                        warehouse_id=warehouses[n % 4],
                    )
                    for n in range(ORDERS)
                ],
                batch_size=2000,
            )
        cursor.execute("SELECT count(*) FROM health_anomaly WHERE subject_key LIKE 'bench-rec:%%'")
        if cursor.fetchone()[0] >= ANOMALIES:
            return
        cursor.execute("DELETE FROM health_anomaly WHERE subject_key LIKE 'bench-rec:%%'")
        cursor.execute("SELECT min(id) FROM orderhub_order WHERE channel LIKE %s", [CHANNEL + "%"])
        first = cursor.fetchone()[0]
        step = WEEK.total_seconds() / ANOMALIES
        cursor.execute(
            "INSERT INTO health_anomaly (kind, order_id, subject_type, subject_key, opened_at, "
            "evidence_at, deadline, resolved_at, resolution, resolved_note, evidence, actions, "
            "resolved_by_action) "
            "SELECT (ARRAY['status_conflict','unmapped_status','ghost_shipment','sync_lag',"
            "'duplicate_shipment','stock_shortage','sla_at_risk','tracking_stalled',"
            "'clock_mismatch','customs_hs_code'])[1 + g %% 10], %s + (g %% %s), 'order', "
            "'bench-rec:' || g, o, o - make_interval(secs => g %% 60), NULL, "
            "CASE WHEN g %% 10 = 0 THEN NULL ELSE o + make_interval(secs => (g * 7) %% 600) END, "
            "CASE WHEN g %% 10 = 0 THEN '' WHEN g %% 3 = 0 THEN 'manual' ELSE 'auto' END, "
            "'', '{}', '[]', '' "
            "FROM (SELECT g, %s::timestamptz + make_interval(secs => g * %s) AS o "
            "FROM generate_series(0, %s - 1) AS g) AS s",
            [first, ORDERS, T0, step, ANOMALIES],
        )
        cursor.execute("ANALYZE health_anomaly")
        cursor.execute("ANALYZE orderhub_order")


REFERENCE = """
SELECT kind, count(*), avg(EXTRACT(EPOCH FROM resolved_at - opened_at))
FROM health_anomaly WHERE opened_at >= %s AND opened_at < %s GROUP BY kind ORDER BY kind
"""


def _median_seconds(function: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> None:
    setup_django()
    from django.db import connection

    from health.recovery import recovery_cycle

    started = time.monotonic()
    ensure_data()
    print(
        f"data: {ANOMALIES:,} anomalies of {ORDERS:,} orders over 7 days "
        f"({time.monotonic() - started:.0f} s to prepare)",
        flush=True,
    )
    since, until = T0, T0 + WEEK

    def reference() -> None:
        with connection.cursor() as cursor:
            cursor.execute(REFERENCE, [since, until])
            cursor.fetchall()

    reference()  # warm the cache for both
    base = _median_seconds(reference, RUNS)
    print(f"reference (GROUP BY kind count+avg over the same rows): {base * 1000:.0f} ms")
    for group_by in ("kind", "channel", "warehouse", "day"):
        rows: list[object] = []

        def report(group_by: str = group_by, rows: list[object] = rows) -> None:
            rows[:] = recovery_cycle(since=since, until=until, group_by=group_by)

        seconds = _median_seconds(report, RUNS)
        print(
            f"recovery_cycle by {group_by}: {seconds * 1000:.0f} ms median of {RUNS} "
            f"({len(rows)} rows) = {seconds / base:.1f}x the reference",
            flush=True,
        )


def main() -> None:
    """Run in a child process of its own (the bench database)."""
    subprocess.run([sys.executable, __file__, "--run"], check=True, cwd=BASE_DIR, env=bench_env())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run()
    else:
        main()
