"""Detection figures, each beside a reference measured in the same run:

a) detection latency: a delivery arrives at the HTTP intake -> its anomaly is open (a webform
   order handed over 25 h ago with no carrier scan: ghost_shipment opens when it is
   processed), p50/p95, under a background load of healthy deliveries (default 200/s), with
   gunicorn as in ``intake_bench``. Processing runs as the worker does: each processing
   process is a worker slot that takes beat's ``channels.inbox_drain`` ticks (one tick every
   INBOX_DRAIN_INTERVAL_SECONDS, taken by a free slot, dropped after the task's 5 s expiry)
   and runs the task itself. Reference: the same path's plain processing latency (a healthy
   delivery -> its order written, no rule firing), and the per-stage times of both (stored ->
   claimed -> flushed -> committed). Run twice: with the drain watching the empty inbox
   (INBOX_WATCH_SECONDS, the default) and with it off (INBOX_WATCH_SECONDS=0: a drain returns
   when the inbox is empty and the next delivery waits for beat's next tick).
   Target p95 <= 2 s.
b) time-based rules: with BENCH_SWEEP_ORDERS (default 1,000,000) orders in a bench database,
   deadline -> anomaly open p95 with the real sweep run at beat's cadence
   (HEALTH_SWEEP_INTERVAL_SECONDS), beside the raw SQL time of the sweep's due-orders query.
   Target p95 <= 15 s.
c) whole-path throughput (intake + processing) with the rules on vs every rule switched off,
   same run; target >= 90 %.

Knobs: BENCH_LOAD_RATE (200), BENCH_DETECTION_SECONDS (20), BENCH_REQUESTS (2000 per
throughput run), BENCH_RUNS (2), BENCH_SWEEP_ORDERS (1000000), BENCH_SWEEP_DUE (100),
BENCH_PARTS (abc: which parts to run), BENCH_WATCH (on,off: the drain settings part a runs).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import (  # noqa: E402
    _PROCESSOR,
    ACCOUNT,
    HMAC_KEY,
    PROCESSORS,
    PYTHON,
    Server,
    _load,
    _manage,
    _processed,
    _requests,
    _server_env,
    _truncate,
)

LOAD_RATE = float(os.environ.get("BENCH_LOAD_RATE", "200"))
DETECTION_SECONDS = float(os.environ.get("BENCH_DETECTION_SECONDS", "20"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
RUNS = int(os.environ.get("BENCH_RUNS", "2"))
SWEEP_ORDERS = int(os.environ.get("BENCH_SWEEP_ORDERS", "1000000"))
SWEEP_DUE = int(os.environ.get("BENCH_SWEEP_DUE", "100"))
PARTS = os.environ.get("BENCH_PARTS", "abc")
WATCH = os.environ.get("BENCH_WATCH", "on,off").split(",")
DRAIN_INTERVAL = float(os.environ.get("INBOX_DRAIN_INTERVAL_SECONDS", "1"))
PROBE_INTERVAL = 0.25  # seconds between probes (a fault probe, then a reference probe)


def _database_url(name: str) -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    from orderhub import embedded

    return embedded.postgres_url(name)


def _signed(body: bytes, delivery: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(HMAC_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-OrderHub-Timestamp": timestamp,
        "X-OrderHub-Signature": f"sha256={digest.hexdigest()}",
        "X-OrderHub-Delivery": delivery,
    }


def _probe(external_id: str, *, ghost: bool) -> tuple[bytes, dict[str, str]]:
    """A webform delivery: handed over 25 h ago without a scan (``ghost``), or paid now."""
    now = datetime.now(UTC)
    at = now - timedelta(hours=25) if ghost else now
    body: dict[str, object] = {
        "external_id": external_id,
        "status": "handed_over" if ghost else "paid",
        "status_time": at.isoformat(),
        "placed_at": (at - timedelta(hours=2)).isoformat(),
        "buyer": {"name": "李四", "phone": "13800138000"},
        "receiver": {"name": "李四", "phone": "13800138000"},
        "address": {"country": "CN", "province": "浙江省", "city": "杭州市",
                    "district": "西湖区", "detail": "文三路 1 号", "postal_code": "310012"},
        "currency": "CNY",
        "amounts": {"goods": "99.00", "shipping": "0.00", "discount": "0.00", "tax": "0.00",
                    "total": "99.00"},
        "lines": [{"sku": "SKU-P", "title": "探针", "qty": 1, "unit_price": "99.00"}],
    }  # fmt: skip
    if ghost:
        body.update(carrier="SF", tracking_number=f"SF{external_id}")
    data = json.dumps(body, ensure_ascii=False).encode()
    return data, _signed(data, f"probe-{external_id}")


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _paced(
    port: int, prepared: list[tuple[bytes, dict[str, str]]], rate: float
) -> dict[str, float]:
    """Send ``prepared`` at ``rate`` per second (32 threads keep the schedule); the rate held."""
    cursor = iter(range(len(prepared)))
    lock = threading.Lock()
    failures = [0]
    started = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, headers = prepared[index]
            if _post(port, f"/hooks/{ACCOUNT}/", body, headers) != 200:
                with lock:
                    failures[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rate": len(prepared) / (time.perf_counter() - started), "failures": failures[0]}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _processors(env: dict[str, str], idle: float = 3) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([PYTHON, "-c", _PROCESSOR.format(idle=idle)], cwd=ROOT, env=env)
        for _ in range(PROCESSORS)
    ]


def _rules(database_url: str, *, enabled: bool) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE health_rulesetting SET enabled = %s", [enabled])


def _clear_health(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE health_anomaly, health_ordercheck CASCADE")


# A worker slot: takes beat's drain ticks (a tick file per interval, created by the first free
# slot; a tick older than the task's expiry is dropped) and runs the task; logs each batch's
# claim, flush and commit times.
_DRAINER = """
import json, os, time, django
django.setup()
from channels_app.services import processing
from channels_app.tasks import inbox_drain_task
from orderhub.services.work import OrderWork

folder, interval = {folder!r}, {interval}
log = open(os.path.join(folder, f"batches-{{os.getpid()}}.jsonl"), "a")
batch = {{}}
claim, flush, pending = processing.inbox_claim, OrderWork.flush, processing.inbox_process_pending

def timed_claim(*, limit):
    ids = claim(limit=limit)
    batch.clear()
    batch.update(ids=ids, claimed=time.time())
    return ids

def timed_flush(self):
    flush(self)
    batch["flushed"] = time.time()

def timed_pending(*, limit=100):
    handled = pending(limit=limit)
    if handled and "flushed" in batch:
        log.write(json.dumps(dict(batch, committed=time.time())) + "\\n")
        log.flush()
    batch.clear()
    return handled

processing.inbox_claim = timed_claim
OrderWork.flush = timed_flush
processing.inbox_process_pending = timed_pending
last = -1
while not os.path.exists(os.path.join(folder, "stop")):
    current = int(time.time() // interval)
    taken = False
    for tick in range(max(last + 1, current - int(5 / interval)), current + 1):
        last = max(last, tick)
        try:
            os.close(os.open(os.path.join(folder, f"tick-{{tick}}"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        taken = True
        break
    if taken:
        inbox_drain_task()
    else:
        time.sleep(max(0.0, (current + 1) * interval - time.time()))
"""


def _drainers(env: dict[str, str], folder: Path, watch: bool) -> list[subprocess.Popen[bytes]]:
    drainer_env = dict(env) if watch else dict(env, INBOX_WATCH_SECONDS="0")
    script = _DRAINER.format(folder=str(folder), interval=DRAIN_INTERVAL)
    return [
        subprocess.Popen([PYTHON, "-c", script], cwd=ROOT, env=drainer_env)
        for _ in range(PROCESSORS)
    ]


def _batches(folder: Path) -> dict[int, dict[str, Any]]:
    """Each processed message's batch times (claimed, flushed, committed), by message id."""
    times: dict[int, dict[str, Any]] = {}
    for path in folder.glob("batches-*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            for message_id in record["ids"]:
                times[message_id] = record
    return times


def _p50_p95(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}/{_percentile(values, 0.95):.2f}"


def detection_latency(
    database_url: str, env: dict[str, str], intake: Server, *, watch: bool
) -> None:
    import tempfile

    _truncate(database_url)
    _clear_health(database_url)
    _rules(database_url, enabled=True)
    background = _requests(int(LOAD_RATE * DETECTION_SECONDS), "bg")
    sent: dict[str, tuple[bool, float]] = {}
    folder = Path(tempfile.mkdtemp(prefix="detection-bench-"))
    processors = _drainers(env, folder, watch)
    load: dict[str, float] = {}
    loader = threading.Thread(
        target=lambda: load.update(_paced(intake.port, background, LOAD_RATE))
    )
    loader.start()
    number = 0
    while loader.is_alive():
        for ghost in (True, False):
            external_id = f"{'G' if ghost else 'R'}{number:05d}"
            body, headers = _probe(external_id, ghost=ghost)
            started = time.time()
            if _post(intake.port, f"/hooks/{ACCOUNT}/", body, headers) == 200:
                sent[external_id] = (ghost, started)
        number += 1
        time.sleep(PROBE_INTERVAL)
    loader.join()
    expected = len(background) + len(sent)
    deadline = time.monotonic() + 300
    while _processed(database_url) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    (folder / "stop").touch()
    for process in processors:
        process.wait(timeout=120)
    with psycopg.connect(database_url) as conn:
        opened: dict[str, datetime] = dict(
            conn.execute(
                "SELECT o.external_id, min(a.opened_at) FROM health_anomaly a "
                "JOIN orderhub_order o ON o.id = a.order_id WHERE a.kind = 'ghost_shipment' "
                "GROUP BY o.external_id"
            ).fetchall()
        )
        written: dict[str, datetime] = dict(
            conn.execute(
                "SELECT external_id, created_at FROM orderhub_order WHERE external_id LIKE 'R%%'"
            ).fetchall()
        )
        messages = {
            delivery.removeprefix("probe-"): (pk, stored)
            for pk, delivery, stored in conn.execute(
                "SELECT id, delivery_id, received_at FROM channels_app_inboundmessage "
                "WHERE delivery_id LIKE 'probe-%%'"
            ).fetchall()
        }
        stray = conn.execute(
            "SELECT count(*) FROM health_anomaly a JOIN orderhub_order o ON o.id = a.order_id "
            "WHERE o.external_id NOT LIKE 'G%%'"
        ).fetchone()
    batches = _batches(folder)
    shutil.rmtree(folder, ignore_errors=True)
    detect = [
        (opened[key].timestamp() - at)
        for key, (ghost, at) in sent.items()
        if ghost and key in opened
    ]
    plain = [
        (written[key].timestamp() - at)
        for key, (ghost, at) in sent.items()
        if not ghost and key in written
    ]
    ghosts = sum(1 for ghost, _at in sent.values() if ghost)
    window = env.get("INBOX_WATCH_SECONDS", "5")
    mode = (
        f"drain watching the empty inbox (INBOX_WATCH_SECONDS={window})"
        if watch
        else "drain returning when the inbox is empty (INBOX_WATCH_SECONDS=0)"
    )
    print(f"-- {mode}, beat tick every {DRAIN_INTERVAL:g} s")
    print(
        f"background load: {load.get('rate', 0):,.0f} deliveries/s held for "
        f"{DETECTION_SECONDS:.0f} s ({int(load.get('failures', 0))} refused), "
        f"{PROCESSORS} worker slots"
    )
    if not detect or not plain:
        print(f"detection latency: no measurement ({len(detect)}/{ghosts} opened)")
        return
    print(
        "detection latency (delivery -> ghost_shipment open): "
        f"p50 {statistics.median(detect):.2f} s, p95 {_percentile(detect, 0.95):.2f} s "
        f"over {len(detect)}/{ghosts} probes (target p95 <= 2 s)"
    )
    print(
        f"reference, plain processing (delivery -> order written, no rule firing): "
        f"p50 {statistics.median(plain):.2f} s, p95 {_percentile(plain, 0.95):.2f} s over "
        f"{len(plain)} probes; anomalies on healthy orders: {stray[0] if stray else '?'}"
    )
    for ghost, label in ((True, "ghost probes"), (False, "plain probes")):
        stages: dict[str, list[float]] = {
            "sent->stored": [], "stored->claimed": [], "claimed->flushed": [],
            "flushed->committed": [], "sent->committed": [],
        }  # fmt: skip
        for key, (is_ghost, at) in sent.items():
            if is_ghost != ghost or key not in messages or messages[key][0] not in batches:
                continue
            stored = messages[key][1].timestamp()
            record = batches[messages[key][0]]
            stages["sent->stored"].append(stored - at)
            stages["stored->claimed"].append(record["claimed"] - stored)
            stages["claimed->flushed"].append(record["flushed"] - record["claimed"])
            stages["flushed->committed"].append(record["committed"] - record["flushed"])
            stages["sent->committed"].append(record["committed"] - at)
        print(
            f"  stages of the {label}, p50/p95 s: "
            + ", ".join(f"{name} {_p50_p95(values)}" for name, values in stages.items())
        )
    sizes = sorted(len(record["ids"]) for record in {id(r): r for r in batches.values()}.values())
    if sizes:
        print(
            f"  batches: {len(sizes)}, messages per batch p50 {statistics.median(sizes):.0f}, "
            f"max {sizes[-1]}"
        )


def _throughput_run(database_url: str, env: dict[str, str], intake: Server, tag: str) -> float:
    _truncate(database_url)
    _clear_health(database_url)
    prepared = _requests(REQUESTS, tag)
    started = time.perf_counter()
    processors = _processors(env)
    _load(intake.port, f"/hooks/{ACCOUNT}/", prepared)
    while _processed(database_url) < REQUESTS:
        if all(p.poll() is not None for p in processors):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = _processed(database_url)
    for process in processors:
        process.wait(timeout=120)
    return done / elapsed


def throughput(database_url: str, env: dict[str, str], intake: Server) -> None:
    on: list[float] = []
    off: list[float] = []
    for run in range(RUNS):
        _rules(database_url, enabled=True)
        on.append(_throughput_run(database_url, env, intake, f"on{run}"))
        _rules(database_url, enabled=False)
        off.append(_throughput_run(database_url, env, intake, f"off{run}"))
    _rules(database_url, enabled=True)
    ratio = statistics.median(on) / statistics.median(off)
    print(
        f"whole path, rules on:  {statistics.median(on):,.0f} orders/s (runs "
        + ", ".join(f"{r:,.0f}" for r in on)
        + f"); rules off: {statistics.median(off):,.0f} orders/s (runs "
        + ", ".join(f"{r:,.0f}" for r in off)
        + f"); on/off {ratio:.0%} (target >= 90 %), {REQUESTS} deliveries per run"
    )


# --- b) the sweep over a million orders --------------------------------------------------------

_SWEEPER = """
import time, django
django.setup()
from django.conf import settings
from health.tasks import anomalies_sweep_task
stop = time.monotonic() + {seconds}
while time.monotonic() < stop:
    anomalies_sweep_task()
    time.sleep(settings.HEALTH_SWEEP_INTERVAL_SECONDS)
"""


_FILLER = {
    "character varying": "''",
    "text": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "boolean": "false",
    "jsonb": "'{}'",
    "timestamp with time zone": "now()",
    "date": "current_date",
    "uuid": "gen_random_uuid()",
}


def _order_columns(conn: psycopg.Connection, explicit: dict[str, str]) -> tuple[str, str]:
    """(column list, SELECT expressions) for an ``orderhub_order`` row: ``explicit`` values,
    a neutral value for every other NOT NULL column without a default (the table grows)."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM "
        "information_schema.columns WHERE table_name = 'orderhub_order' ORDER BY ordinal_position"
    ).fetchall()
    columns, values = [], []
    for name, data_type, nullable, default in rows:
        if name == "id":
            continue
        if name in explicit:
            columns.append(name)
            values.append(explicit[name])
        elif nullable == "NO" and default is None:
            columns.append(name)
            values.append(_FILLER[data_type])
    return ", ".join(columns), ", ".join(values)


def _count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - constants
    return int(row[0]) if row else 0


def _bulk_orders(conn: psycopg.Connection, total: int) -> int:
    """Orders (delivered, nothing due: a far next check) up to ``total``, by INSERT ... SELECT."""
    row = conn.execute("SELECT count(*) FROM orderhub_order WHERE channel = 'bench'").fetchone()
    count = int(row[0]) if row else 0
    missing = total - count
    if missing > 0:
        columns, values = _order_columns(
            conn,
            {
                "channel": "'bench'", "external_id": "'B' || g", "buyer_name": "'买家'",
                "country": "'CN'", "currency": "'CNY'", "goods_amount": "99",
                "total_amount": "99", "order_type": "'normal'", "priority": "1",
                "carrier": "'SF'", "tracking_number": "'SFB' || g",
                "placed_at": "now() - make_interval(mins => (g %% 100000)::int)",
                "status": "'delivered'",
            },
        )  # fmt: skip
        conn.execute(
            f"INSERT INTO orderhub_order ({columns}) SELECT {values} "  # noqa: S608 - constants
            "FROM generate_series(%s::bigint, %s::bigint) AS g",
            [count + 1, total],
        )
    # Every order has a next check, spread over the coming weeks (none due now).
    if missing > 0 or _count(conn, "health_ordercheck") < total:
        conn.execute(
            "INSERT INTO health_ordercheck (order_id, next_check_at) "
            "SELECT id, now() + make_interval(secs => 3600 + (id % 2000000)) "
            "FROM orderhub_order WHERE channel = 'bench' ON CONFLICT (order_id) DO NOTHING"
        )
        conn.execute("ANALYZE orderhub_order")
        conn.execute("ANALYZE health_ordercheck")
    row = conn.execute("SELECT count(*) FROM orderhub_order").fetchone()
    return int(row[0]) if row else 0


def sweep_latency() -> None:
    database_url = _database_url("orderhub_bench_sweep")
    env = _server_env(database_url)
    _manage(env, "migrate", "--noinput")
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The due orders of earlier runs keep their (ledgered) anomalies: each run has its own.
        channel = f"bench-due-{int(time.time())}"
        total = _bulk_orders(conn, SWEEP_ORDERS)
        loaded = time.monotonic() - started
        # The due orders: handed over by the WMS 22 h before a moment 10-40 s from now, no
        # carrier scan: ghost_shipment opens then (its 24 h deadline less its 2 h lead); their
        # next check is that moment (as the engine stored it).
        now = datetime.now(UTC)
        deadlines = [now + timedelta(seconds=10 + 30 * n / SWEEP_DUE) for n in range(SWEEP_DUE)]
        for n, deadline in enumerate(deadlines):
            columns, values = _order_columns(
                conn,
                {
                    "channel": "%s", "external_id": "%s", "buyer_name": "'买家'",
                    "country": "'CN'", "currency": "'CNY'", "order_type": "'normal'",
                    "priority": "1", "carrier": "'SF'", "tracking_number": "%s",
                    "placed_at": "%s", "status": "'handed_over'",
                },
            )  # fmt: skip
            row = conn.execute(
                f"INSERT INTO orderhub_order ({columns}) VALUES ({values}) RETURNING id",  # noqa: S608
                [channel, f"D{n}", f"SFD{channel}{n}", deadline - timedelta(hours=26)],
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO orderhub_statusfact (order_id, system, raw_status, milestone, "
                "outcome, occurred_at, received_at, status_before, status_after, skipped, "
                "dedupe_key, note) VALUES (%s, 'wms:bench', 'SHIPPED', 'handed_over', "
                "'advanced', %s, now(), 'paid', 'handed_over', '[]', %s, '')",
                [row[0], deadline - timedelta(hours=22), f"bench-due-{n}"],
            )
            conn.execute(
                "INSERT INTO health_ordercheck (order_id, next_check_at) VALUES (%s, %s)",
                [row[0], deadline],
            )
        # The reference: the sweep's due-orders query itself, raw SQL, median of 20.
        timings = []
        for _ in range(20):
            begin = time.perf_counter()
            conn.execute(
                "SELECT order_id FROM health_ordercheck WHERE next_check_at <= now() "
                "ORDER BY next_check_at LIMIT 500"
            ).fetchall()
            timings.append((time.perf_counter() - begin) * 1000)
    seconds = 50
    sweeper = subprocess.Popen([PYTHON, "-c", _SWEEPER.format(seconds=seconds)], cwd=ROOT, env=env)
    sweeper.wait(timeout=seconds + 120)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.opened_at, a.evidence_at FROM health_anomaly a JOIN orderhub_order o "
            "ON o.id = a.order_id WHERE o.channel = %s AND a.kind = 'ghost_shipment'",
            [channel],
        ).fetchall()
        stray = conn.execute(
            "SELECT count(*) FROM health_anomaly a JOIN orderhub_order o ON o.id = a.order_id "
            "WHERE o.channel = 'bench'"
        ).fetchone()
    lags = [(opened - evidence).total_seconds() for opened, evidence in rows]
    print(
        f"{total:,} orders in the database (bulk load {loaded:.0f} s), {SWEEP_DUE} ghost "
        f"deadlines 10-40 s ahead, the sweep every "
        f"{env.get('HEALTH_SWEEP_INTERVAL_SECONDS', '5')} s (beat's cadence)"
    )
    if lags:
        print(
            "time-based rule (deadline -> ghost_shipment open): "
            f"p50 {statistics.median(lags):.2f} s, p95 {_percentile(lags, 0.95):.2f} s "
            f"over {len(lags)}/{SWEEP_DUE} (target p95 <= 15 s); "
            f"anomalies on other orders: {stray[0] if stray else '?'}"
        )
    else:
        print(f"time-based rule: none of the {SWEEP_DUE} deadlines opened an anomaly")
    print(
        f"reference, the due-orders query in raw SQL: median {statistics.median(timings):.2f} ms "
        f"over 20 runs"
    )


def main() -> None:
    if "a" in PARTS or "c" in PARTS:
        database_url = _database_url("orderhub_bench_detection")
        env = _server_env(database_url)
        _manage(env, "migrate", "--noinput")
        _truncate(database_url)
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM channels_app_channelaccount WHERE code = %s", [ACCOUNT])
        _manage(env, "channel_add", "--kind", "webform", "--code", ACCOUNT, "--secret", HMAC_KEY)
        intake = Server("orderhub.wsgi:application", env)
        try:
            if "a" in PARTS:
                for watch in WATCH:
                    detection_latency(database_url, env, intake, watch=watch == "on")
            if "c" in PARTS:
                throughput(database_url, env, intake)
        finally:
            intake.stop()
    if "b" in PARTS:
        sweep_latency()


if __name__ == "__main__":
    main()
