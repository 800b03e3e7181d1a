"""Board figures: the whole health board's load time (the page and its five panels, as a
browser's htmx requests them) in a database of 1,000,000 orders and 10,000,000 status facts,
beside the raw SQL time of the very statements those requests ran, in the same run.
Target: board p95 <= 300 ms.

Runs against its own database (``orderhub_board_bench`` on the embedded server, or
``BENCH_DATABASE_URL``). The default is a short run: ``BOARD_BENCH_ORDERS=100000`` orders with
``BOARD_BENCH_FACTS_PER_ORDER=10`` facts each; the issue's size is
``BOARD_BENCH_ORDERS=1000000``. ``BOARD_BENCH_RUNS`` (default 15) board loads are timed;
``BOARD_BENCH_RESET=1`` empties the bench database's orders first (one transaction loads all).
Rows are bulk-loaded server-side (``INSERT ... SELECT generate_series``), spread over the last
30 days, then ANALYZEd.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

ORDERS = int(os.environ.get("BOARD_BENCH_ORDERS", "100000"))
FACTS_PER_ORDER = int(os.environ.get("BOARD_BENCH_FACTS_PER_ORDER", "10"))
RUNS = int(os.environ.get("BOARD_BENCH_RUNS", "15"))
DAYS = 30
PANELS = ("funnel", "top", "alerts", "map", "trends", "scores")
WAREHOUSES = ("BW-1", "BW-2", "BW-3", "BW-4", "BW-5")
CHANNELS = "ARRAY['tmall','jd','douyin','pinduoduo','youzan','shopify']"
PROVINCES = "ARRAY['上海市','广东省','浙江省','北京市','四川省','湖北省','江苏省','山东省']"
MILESTONES = (
    "ARRAY['placed','paid','stock_locked','warehouse_accepted','picked_packed',"
    "'waybill_issued','handed_over','collected','delivered','delivered']"
)


def bench_env() -> dict[str, str]:
    from orderhub import embedded

    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL")
        or embedded.postgres_url("orderhub_board_bench"),
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(BASE_DIR),
    )
    return env


def load(cursor: object, orders: int, facts_per_order: int) -> None:
    """Bring the database to ``orders`` orders and their facts, anomalies, feedback."""
    execute = cursor.execute  # type: ignore[attr-defined]
    fetchone = cursor.fetchone  # type: ignore[attr-defined]
    for code in WAREHOUSES:
        execute(
            "INSERT INTO orderhub_warehouse (code, name, province, city, is_active) "
            "VALUES (%s, %s, '上海市', '上海市', true) ON CONFLICT (code) DO NOTHING",
            [code, code],
        )
    execute("SELECT min(id) FROM orderhub_warehouse WHERE code LIKE 'BW-%%'")
    first_warehouse = fetchone()[0]
    execute("SELECT count(*) FROM orderhub_order")
    have = fetchone()[0]
    if have >= orders:
        return
    started = time.monotonic()
    span = DAYS * 86400.0
    execute(
        "INSERT INTO orderhub_order (channel, external_id, buyer_name, buyer_phone, "  # noqa: S608 - constant arrays
        "buyer_email, receiver_name, receiver_phone, phone_tail, country, province, city, "
        "district, address, postal_code, currency, goods_amount, shipping_amount, "
        "discount_amount, tax_amount, total_amount, order_type, priority, carrier, "
        "tracking_number, buyer_note, internal_note, placed_at, shipped_at, status, warehouse_id, "
        "created_at, updated_at) "
        f"SELECT ({CHANNELS})[1 + g %% 6], 'BB' || g, '买家', '', '', '收件人', '', "
        f"lpad((g %% 10000)::text, 4, '0'), 'CN', ({PROVINCES})[1 + g %% 8], '市', '区', '路', '', "
        "'CNY', 50 + g %% 3000, 0, 0, 0, 50 + g %% 3000, 'normal', g %% 4, 'SF', "
        "CASE WHEN g %% 10 >= 3 AND g %% 17 <> 0 THEN 'SF' || g ELSE '' END, '', '', "
        "now() - make_interval(secs => %s * (%s - g) / %s), "
        "CASE WHEN g %% 10 >= 3 AND %s * (%s - g) / %s > 21600 "
        "THEN now() - make_interval(secs => %s * (%s - g) / %s) + interval '6 hours' END, "
        f"({MILESTONES})[1 + g %% 10], %s + g %% 5, now(), now() "
        "FROM generate_series(%s, %s) AS g",
        [
            span,
            orders,
            orders,
            span,
            orders,
            orders,
            span,
            orders,
            orders,
            first_warehouse,
            have + 1,
            orders,
        ],
    )
    execute("SELECT min(id), max(id) FROM orderhub_order WHERE channel <> 'bench'")
    low, high = fetchone()
    print(f"  loaded {orders - have:,} orders in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    # Facts: received every 30 minutes after placing (none yet in the future); one in seven
    # mirrored after 90 s. Ids follow the time received, as they do when facts arrive.
    execute(
        "INSERT INTO orderhub_statusfact (order_id, system, raw_status, milestone, occurred_at, "  # noqa: S608 - constant arrays
        "received_at, outcome, status_before, status_after, skipped, dedupe_key, note) "
        f"SELECT o.id, 'bench:sys' || k %% 3, 'RAW', ({MILESTONES})[k], "
        "o.placed_at + make_interval(mins => 30 * k) "
        "- make_interval(secs => CASE WHEN (o.id + k) %% 7 = 0 THEN 200 ELSE 5 END), "
        "o.placed_at + make_interval(mins => 30 * k), 'advanced', '', '', '[]', 'k' || k, '' "
        "FROM orderhub_order o CROSS JOIN generate_series(1, %s) AS k "
        "WHERE o.id BETWEEN %s AND %s AND o.external_id LIKE 'BB%%' "
        "AND o.placed_at + make_interval(mins => 30 * k) < now() "
        "ORDER BY o.placed_at + make_interval(mins => 30 * k), o.id",
        [facts_per_order, low, high],
    )
    print(f"  loaded facts in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    execute(
        "INSERT INTO orderhub_trackingevent (order_id, system, carrier, tracking_number, "
        "occurred_at, received_at, stage, raw_state, raw_substate, milestone, description, "
        "location, dedupe_key) SELECT o.id, 'kuaidi100:bench', 'SF', o.tracking_number, "
        "o.shipped_at, o.shipped_at, 'in_transit', '0', '', '', '', '', 't1' "
        "FROM orderhub_order o WHERE o.id BETWEEN %s AND %s AND o.tracking_number <> '' "
        "AND o.shipped_at IS NOT NULL AND o.external_id LIKE 'BB%%' ORDER BY o.shipped_at, o.id",
        [low, high],
    )
    # Anomalies: 1 % of orders open, 2 % resolved after a few minutes.
    execute(
        "INSERT INTO health_anomaly (kind, order_id, subject_type, subject_key, opened_at, "
        "evidence_at, deadline, resolved_at, resolution, resolved_note, evidence, actions, "
        "resolved_by_action) "
        "SELECT CASE WHEN o.id %% 100 = 0 THEN 'sync_lag' ELSE 'ghost_shipment' END, o.id, "
        "'order', 'order:' || o.id, o.placed_at + interval '1 hour', o.placed_at, "
        "o.placed_at + interval '2 days', CASE WHEN o.id %% 100 = 0 THEN NULL "
        "ELSE o.placed_at + interval '1 hour' + make_interval(mins => (o.id %% 30)::int) END, "
        "CASE WHEN o.id %% 100 = 0 THEN '' ELSE 'auto' END, '', "
        "'{\"facts\": [\"bench\"]}', '[]', '' FROM orderhub_order o "
        "WHERE o.id BETWEEN %s AND %s AND o.id %% 100 IN (0, 1, 2) AND o.external_id LIKE 'BB%%' "
        "AND o.placed_at + interval '2 hours' < now()",
        [low, high],
    )
    # Feedback: a review on one order in ten (one in five negative), a complaint on one in 20.
    execute(
        "INSERT INTO health_feedback (channel, order_id, kind, rating, positive, province, "
        "reason, occurred_at, received_at, external_id, raw) "
        "SELECT o.channel, o.id, CASE WHEN o.id %% 20 = 0 THEN 'complaint' ELSE 'review' END, "
        "CASE WHEN o.id %% 20 = 0 THEN NULL WHEN o.id %% 50 = 0 THEN 2 ELSE 5 END, "
        "CASE WHEN o.id %% 20 = 0 THEN NULL ELSE o.id %% 50 <> 0 END, o.province, '', "
        "o.placed_at + interval '3 days', o.placed_at + interval '3 days', 'F' || o.id, '{}' "
        "FROM orderhub_order o WHERE o.id BETWEEN %s AND %s AND o.id %% 10 = 0 "
        "AND o.placed_at + interval '3 days' < now() AND o.external_id LIKE 'BB%%'",
        [low, high],
    )
    for table in ("orderhub_order", "orderhub_statusfact", "orderhub_trackingevent",
                  "health_anomaly", "health_feedback"):  # fmt: skip
        execute(f"ANALYZE {table}")
    print(
        f"  loaded anomalies, feedback, tracking in {time.monotonic() - started:.0f} s", flush=True
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run() -> None:
    os.environ.update(bench_env())
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if os.environ.get("BOARD_BENCH_RESET"):
            cursor.execute(
                "TRUNCATE orderhub_order, health_scoredaily, health_scoredailyrun CASCADE"
            )
        load(cursor, ORDERS, FACTS_PER_ORDER)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM orderhub_order), (SELECT count(*) FROM "
            "orderhub_statusfact), (SELECT count(*) FROM health_anomaly WHERE resolved_at IS "
            "NULL), (SELECT count(*) FROM health_feedback)"
        )
        orders, facts, open_anomalies, feedback = cursor.fetchone()
    from django.utils import timezone

    from health.rollup import score_daily_rollup, score_rollup_due

    started = time.monotonic()
    for day in score_rollup_due(now=timezone.now()):
        score_daily_rollup(day=day)
    print(f"  rolled up the past 6 days in {time.monotonic() - started:.0f} s", flush=True)
    from health.rollup import score_fold_backfill

    started = time.monotonic()
    folded = score_fold_backfill()
    print(f"  folded the facts up to id {folded.fact_mark:,} in {time.monotonic() - started:.0f} s"
          " (score_rollup --backfill)", flush=True)  # fmt: skip
    print(f"database: {orders:,} orders, {facts:,} status facts, {open_anomalies:,} open "
          f"anomalies, {feedback:,} reviews/complaints", flush=True)  # fmt: skip
    setup_test_environment()
    from django.conf import settings
    from django.test import override_settings

    # No collectstatic for a bench run: static URLs without the deployed manifest.
    plain = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=plain).enable()  # fmt: skip
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password=None
    )
    client = Client()
    client.force_login(user)
    urls = ["/en/board/"] + [f"/en/board/panel/{name}/" for name in PANELS]

    def board_load() -> list[float]:
        each = []
        for url in urls:
            started = time.perf_counter()
            response = client.get(url)
            each.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
        return each

    board_load()  # warm-up
    with CaptureQueriesContext(connection) as captured:
        board_load()
    statements = [query["sql"] for query in captured.captured_queries]
    totals, per_url = [], []
    raw_totals = []
    for _ in range(RUNS):
        each = board_load()
        per_url.append(each)
        totals.append(sum(each))
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                if cursor.description is not None:
                    cursor.fetchall()
        raw_totals.append(time.perf_counter() - started)
    print(f"board: {len(urls)} requests, {len(statements)} SQL statements per load", flush=True)
    for index, url in enumerate(urls):
        timings = [run[index] for run in per_url]
        print(f"  {url:<28} median {statistics.median(timings) * 1000:6.0f} ms, "
              f"p95 {percentile(timings, 0.95) * 1000:6.0f} ms", flush=True)  # fmt: skip
    board_median, board_p95 = statistics.median(totals), percentile(totals, 0.95)
    raw_median, raw_p95 = statistics.median(raw_totals), percentile(raw_totals, 0.95)
    print(
        f"whole board: median {board_median * 1000:.0f} ms, p95 {board_p95 * 1000:.0f} ms over "
        f"{RUNS} loads   target p95 <= 300 ms\n"
        f"reference, the same {len(statements)} statements as raw SQL: median "
        f"{raw_median * 1000:.0f} ms, p95 {raw_p95 * 1000:.0f} ms   "
        f"ratio board/raw (median) {board_median / raw_median:.2f}",
        flush=True,
    )


def main() -> None:
    """Run in a child process of its own (its own database settings)."""
    subprocess.run([sys.executable, __file__, "--run"], check=True, cwd=BASE_DIR)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run()
    else:
        main()
