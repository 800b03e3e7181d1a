"""Ingest throughput: HTTP intake alone, and intake plus processing, next to physical references.

References measured in the same run, on the same database server:
- a minimal receiver: a bare WSGI app doing the HMAC check and one INSERT per request, under
  the same gunicorn setup as OrderHub (sync workers, persistent database connections);
- raw PostgreSQL per-transaction inserts of a 6-row order (1 order + 5 lines, psycopg, no ORM),
  with as many connections as the processing run has workers.

Deliveries are signed ``webform`` orders with 5 lines (about 1.5 KB), each with its own
delivery id. The client is a bounded pool of Python threads on the same machine (it competes
with the servers for the CPU, equally for both). Each figure is the median of ``RUNS`` runs.
Environment: BENCH_REQUESTS, BENCH_RUNS, BENCH_CONCURRENCY, BENCH_WORKERS (gunicorn),
BENCH_PROCESSORS (processing processes), BENCH_PROFILE=0 to skip the profile.
The processing runs alternate with and without the order core's listeners (the hooks of
``orderhub.hooks`` and ``order_created_hooks``, cleared in the bench's processors only), so
the listeners' cost shows as a ratio of the same run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HMAC_KEY = "bench-hmac-secret"
ACCOUNT = "bench-wf"

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
PROCESSORS = int(os.environ.get("BENCH_PROCESSORS", "2"))


# --- the minimal receiver (runs inside gunicorn; imports nothing of Django) ------------------

_minimal_conn: psycopg.Connection[Any] | None = None


def minimal_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """HMAC-SHA256 check of ``<timestamp>.<body>`` and one INSERT of the raw body."""
    global _minimal_conn
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    timestamp = environ.get("HTTP_X_ORDERHUB_TIMESTAMP", "")
    given = environ.get("HTTP_X_ORDERHUB_SIGNATURE", "")
    digest = hmac.new(HMAC_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest(f"sha256={digest.hexdigest()}".encode(), given.encode()):
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"ok":false}']
    if _minimal_conn is None:
        _minimal_conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"])
    _minimal_conn.execute(
        "INSERT INTO bench_minimal (delivery_id, body) VALUES (%s, %s)",
        [environ.get("HTTP_X_ORDERHUB_DELIVERY", ""), body],
    )
    _minimal_conn.commit()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok":true}']


# --- helpers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bench_database_url() -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    from orderhub import embedded

    return embedded.postgres_url("orderhub_bench_intake")


def _server_env(database_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        BENCH_DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(40),
        CHANNEL_SECRETS_KEYS=env.get("CHANNEL_SECRETS_KEYS") or Fernet.generate_key().decode(),
        # A throwaway Ed25519 key (base64 of 32 random bytes): production settings need one.
        LEDGER_SIGNING_KEY=env.get("LEDGER_SIGNING_KEY")
        or base64.b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


class Server:
    """gunicorn, sync workers, on 127.0.0.1; stopped by its own pid."""

    def __init__(self, app: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", app, "--workers", str(WORKERS), "--worker-class", "sync",
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "--backlog", "2048"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"gunicorn did not start: {err[-2000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _order_body(n: int, run: str) -> bytes:
    lines: list[dict[str, Any]] = [
        {"sku": f"SKU-{k}", "title": f"商品 {k} / item {k}", "qty": k, "unit_price": f"{9 + k}.90"}
        for k in range(1, 6)
    ]
    total = sum(k * (9 + k + 0.9) for k in range(1, 6))
    payload = {
        "external_id": f"B{run}-{n:06d}",
        "status": "paid",
        "status_time": "2026-05-01T10:00:00+08:00",
        "placed_at": "2026-05-01T09:58:00+08:00",
        "buyer": {"name": "张三", "phone": f"1380013{n % 10000:04d}", "email": "b@example.com"},
        "receiver": {"name": "张三", "phone": f"1380013{n % 10000:04d}"},
        "address": {"country": "CN", "province": "浙江省", "city": "杭州市", "district": "西湖区",
                    "detail": "文三路 100 号 3 幢 501 室", "postal_code": "310012"},
        "currency": "CNY",
        "amounts": {"goods": f"{total:.2f}", "shipping": "10.00", "discount": "0.00",
                    "tax": "0.00", "total": f"{total + 10:.2f}"},
        "lines": lines,
        "note": "请尽快发货",
    }  # fmt: skip
    return json.dumps(payload, ensure_ascii=False).encode()


def _requests(count: int, run: str) -> list[tuple[bytes, dict[str, str]]]:
    prepared = []
    timestamp = str(int(time.time()))
    for n in range(count):
        body = _order_body(n, run)
        digest = hmac.new(HMAC_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "X-OrderHub-Timestamp": timestamp,
            "X-OrderHub-Signature": f"sha256={digest.hexdigest()}",
            "X-OrderHub-Delivery": f"{run}-{n}",
        }
        prepared.append((body, headers))
    return prepared


def _load(
    port: int,
    path: str,
    prepared: list[tuple[bytes, dict[str, str]]],
    *,
    ok: frozenset[int] = frozenset({200}),
    concurrency: int | None = None,
) -> dict[str, float]:
    """Send every request with ``concurrency`` (default CONCURRENCY) threads; rate, latency
    percentiles, failures (answers whose status is not in ``ok``)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    cursor = iter(range(len(prepared)))

    def worker() -> None:
        mine: list[float] = []
        bad = 0
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            body, headers = prepared[index]
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status not in ok:
                    bad += 1
            except OSError:
                bad += 1
            finally:
                conn.close()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency or CONCURRENCY)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": len(prepared) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures[0],
    }


def _median(results: list[dict[str, float]], key: str) -> float:
    return statistics.median(result[key] for result in results)


def _summary(label: str, results: list[dict[str, float]]) -> str:
    runs = ", ".join(f"{result['rate']:,.0f}" for result in results)
    return (
        f"{label}: {_median(results, 'rate'):,.0f} req/s (runs {runs}), "
        f"p50 {_median(results, 'p50'):.1f} ms, p99 {_median(results, 'p99'):.1f} ms, "
        f"non-200 {sum(int(r['failures']) for r in results)}"
    )


def _truncate(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "TRUNCATE channels_app_inboundmessage, orderhub_statusfact, orderhub_orderline, "
            "orderhub_order, orderhub_historicalorder, traceability_ledgerevent CASCADE"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_minimal "
            "(id bigserial PRIMARY KEY, delivery_id text, body bytea, received_at timestamptz "
            "DEFAULT now())"
        )
        conn.execute("TRUNCATE bench_minimal")
        conn.execute("CHECKPOINT")


_PROCESSOR = """
import os, time, django
django.setup()
from channels_app.services import inbox_process_pending
if os.environ.get("BENCH_LISTENERS") == "off":
    # This processor only: the order core tells no listener (health rules, allocation,
    # customers, stock, write-back, courier subscriptions, order-created hooks).
    from orderhub.hooks import fact_hooks, transition_hooks
    from orderhub.services.orders import order_created_hooks
    for registry in (fact_hooks, transition_hooks, order_created_hooks):
        registry._entries.clear()
idle_since = None
while True:
    if inbox_process_pending(limit=100):
        idle_since = None
    else:
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > {idle}:
            break
        time.sleep(0.05)
"""


def _processed(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM channels_app_inboundmessage WHERE status = 'processed'"
        ).fetchone()
        return int(row[0]) if row else 0


def _raw_order_reference(database_url: str, seconds: float = 3.0) -> float:
    """Per-transaction inserts of 1 order + 5 lines, PROCESSORS connections, tx/s."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_order (id bigserial PRIMARY KEY, channel text, "
            "external_id text, total numeric(14,2), status text, payload jsonb, "
            "UNIQUE (channel, external_id))"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_line (id bigserial PRIMARY KEY, order_id bigint "
            "REFERENCES bench_order, sku text, qty int, price numeric(12,2))"
        )
        conn.execute("TRUNCATE bench_order, bench_line")
        conn.commit()
    counts = [0] * PROCESSORS
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        with psycopg.connect(database_url) as conn:
            n = 0
            while time.monotonic() < stop:
                row = conn.execute(
                    "INSERT INTO bench_order (channel, external_id, total, status, payload) "
                    "VALUES ('b', %s, 123.45, 'paid', '{}') RETURNING id",
                    [f"{index}-{n}"],
                ).fetchone()
                assert row is not None
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO bench_line (order_id, sku, qty, price) VALUES (%s,%s,%s,%s)",
                        [(row[0], f"SKU-{k}", k, 9.9) for k in range(5)],
                    )
                conn.commit()
                n += 1
            counts[index] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(PROCESSORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def _process_run(
    database_url: str, env: dict[str, str], port: int, run: str, listeners: bool
) -> dict[str, float]:
    """Send REQUESTS deliveries while PROCESSORS processes drain the inbox: orders/s from
    the first request until every message is processed (or the processors gave up)."""
    _truncate(database_url)
    prepared = _requests(REQUESTS, run)
    processor_env = dict(env, BENCH_LISTENERS="on" if listeners else "off")
    started = time.perf_counter()
    processors = [
        subprocess.Popen([PYTHON, "-c", _PROCESSOR.format(idle=3)], cwd=ROOT, env=processor_env)
        for _ in range(PROCESSORS)
    ]
    _load(port, f"/hooks/{ACCOUNT}/", prepared)
    while _processed(database_url) < REQUESTS:
        if all(p.poll() is not None for p in processors):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = _processed(database_url)
    for process in processors:
        process.wait(timeout=60)
    return {"rate": done / elapsed, "done": done}


def _process_summary(results: list[dict[str, float]]) -> str:
    rates = ", ".join(f"{r['rate']:,.0f}" for r in results)
    return (
        f"{_median(results, 'rate'):,.0f} orders/s (runs {rates}; "
        f"{int(min(r['done'] for r in results))}/{REQUESTS} processed at least)"
    )


def _profile(env: dict[str, str]) -> str:
    """cProfile of processing the stored messages in one process: where the time goes."""
    script = """
import cProfile, pstats, io, django
django.setup()
from channels_app.services import inbox_process_pending
profile = cProfile.Profile()
profile.enable()
while inbox_process_pending(limit=100):
    pass
profile.disable()
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
print(out.getvalue())
"""
    result = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return "\n".join(lines[:22])


def main() -> None:
    database_url = _bench_database_url()
    env = _server_env(database_url)
    _manage(env, "migrate", "--noinput")
    _truncate(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM channels_app_channelaccount WHERE code = %s", [ACCOUNT])
    _manage(env, "channel_add", "--kind", "webform", "--code", ACCOUNT, "--secret", HMAC_KEY)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    print(
        f"PostgreSQL {row[0] if row else '?'}; gunicorn {WORKERS} sync workers, persistent DB "
        f"connections; client: {CONCURRENCY} Python threads on the same machine; "
        f"{REQUESTS} deliveries per run, {RUNS} runs"
    )

    minimal_runs, intake_runs = [], []
    intake = Server("orderhub.wsgi:application", env)
    minimal = Server("bench.intake_bench:minimal_app", env)
    try:
        for run in range(RUNS):
            _truncate(database_url)
            minimal_runs.append(_load(minimal.port, "/", _requests(REQUESTS, f"m{run}")))
            _truncate(database_url)
            intake_runs.append(
                _load(intake.port, f"/hooks/{ACCOUNT}/", _requests(REQUESTS, f"i{run}"))
            )
        print(_summary("minimal receiver (HMAC + 1 INSERT)", minimal_runs))
        print(_summary("OrderHub intake   (verify + store + ledger)", intake_runs))
        ratio = _median(intake_runs, "rate") / _median(minimal_runs, "rate")
        print(f"intake / minimal receiver: {ratio:.0%} (target >= 60%, p99 < 50 ms)")

        # Alternating runs with and without the listeners, so both see the same load.
        total_runs: list[dict[str, float]] = []
        bare_runs: list[dict[str, float]] = []
        for run in range(RUNS):
            total_runs.append(_process_run(database_url, env, intake.port, f"p{run}", True))
            bare_runs.append(_process_run(database_url, env, intake.port, f"q{run}", False))
        reference = _raw_order_reference(database_url)
        total, bare = _median(total_runs, "rate"), _median(bare_runs, "rate")
        print(
            f"intake + processing ({PROCESSORS} processing processes): "
            f"{_process_summary(total_runs)}, "
            "with lines, facts, history and ledger events written"
        )
        print(
            f"processing with the listeners off (same, no fact/transition/created hooks): "
            f"{_process_summary(bare_runs)}"
        )
        print(
            f"raw PostgreSQL 6-row order per transaction ({PROCESSORS} connections): "
            f"{reference:,.0f} orders/s (target for the whole path: >= 200 orders/s)"
        )
        print(
            f"intake + processing / raw: {total / reference:.0%}; listeners off / raw: "
            f"{bare / reference:.0%}; with listeners / without: {total / bare:.0%}"
        )
    finally:
        intake.stop()
        minimal.stop()

    if os.environ.get("BENCH_PROFILE", "1") != "0":
        _truncate(database_url)
        intake = Server("orderhub.wsgi:application", env)
        try:
            _load(intake.port, f"/hooks/{ACCOUNT}/", _requests(400, "prof"))
        finally:
            intake.stop()
        print("profile of processing 400 stored messages in one process (top by own time):")
        print(_profile(env))


if __name__ == "__main__":
    main()
