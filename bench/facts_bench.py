"""The facts API: a WMS reporting facts through ``POST /api/v1/facts/`` next to a bare receiver.

The bare receiver, measured in the same run under the same gunicorn setup, does what any
endpoint taking a system's facts must: look the DRF token up and INSERT the raw body. The
facts API (answered at the WSGI edge for token requests) also parses and validates the body,
checks in its one storing statement that the token still exists, its user is active and may
report for the system and that the order is the WMS's warehouse's (or has none yet), and
stores the fact under its idempotency key; it answers 202. The worker's task
(``channels.facts_apply``, run here by an applier process at the beat's cadence,
``BENCH_FACT_POLL_SECONDS``, default 1 s, as beat runs it, in ``BENCH_FACT_APPLIERS``
processes, default 2 as the worker's concurrency) applies the stored facts in
batches: locks the orders, stores the facts, moves the orders (``PACKED`` → picked_packed),
runs the hooks and appends the ledger events.

One fact per request (``BENCH_REQUESTS`` per run, each for its own order), answered with
nothing applying meanwhile, as the bare receiver is measured. Then the appliers start, take
that backlog, and the batch form is sent: ``BENCH_FACT_BATCHES`` requests of 500
facts each (default 2), reported as facts
per second accepted, and the time from the answer to the fact applied (receipt
``received_at`` to ``applied_at``, p50/p95 over the batches' facts), and the appliers' rate
(all facts of the run over the longest time one applier spent applying). Medians of
``BENCH_RUNS`` runs. Target: one-fact requests >= 70 % of the bare receiver.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.intake_bench import (
    CONCURRENCY,
    PYTHON,
    ROOT,
    RUNS,
    Server,
    _bench_database_url,
    _load,
    _manage,
    _median,
    _server_env,
    _summary,
    _truncate,
)

SYSTEM = "bench-wms"
WAREHOUSE = "WH-BENCH"
CHANNEL = "bench-shop"
REPORTER = "bench-wms-reporter"
BATCH = 500
# Shorter than the intake bench by default: every fact is applied too (BENCH_REQUESTS and
# BENCH_FACT_BATCHES for longer runs).
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000"))
BATCHES = int(os.environ.get("BENCH_FACT_BATCHES", "2"))
ACCEPTED = frozenset({200, 201, 202})
_minimal_conn: psycopg.Connection[Any] | None = None


def minimal_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The bare facts receiver: the DRF token look-up (active user) and one INSERT."""
    global _minimal_conn
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if _minimal_conn is None:
        _minimal_conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"])
    header = environ.get("HTTP_AUTHORIZATION", "")
    token = header[6:] if header.startswith("Token ") else ""
    row = _minimal_conn.execute(
        "SELECT u.id FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id "
        "WHERE t.key = %s AND u.is_active",
        [token],
    ).fetchone()
    if row is None:
        _minimal_conn.rollback()
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"detail":"Invalid token."}']
    _minimal_conn.execute(
        "INSERT INTO bench_minimal (delivery_id, body) VALUES (%s, %s)", [str(row[0]), body]
    )
    _minimal_conn.commit()
    start_response("201 Created", [("Content-Type", "application/json")])
    return [b'{"id":1,"order":1,"outcome":"advanced","milestone":"picked_packed"}']


# Run in a subprocess with Django set up: the warehouse, the WMS account, its reporter and
# token (printed), and ``count`` paid orders of the bench channel named P<run>-<n>.
_SETUP = """
import sys, django
django.setup()
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from channels_app.models import ChannelAccount
from channels_app.services import channel_account_create
from channels_app.services.system_facts import system_reporter_add
from orderhub.models import Order, Warehouse
system, warehouse, channel, reporter, run, count = sys.argv[1:7]
Warehouse.objects.get_or_create(code=warehouse, defaults={"name": "Bench warehouse"})
if not ChannelAccount.objects.filter(code=system).exists():
    channel_account_create(kind="wms", code=system, options={"warehouse": warehouse}, secrets={})
user, _ = get_user_model().objects.get_or_create(username=reporter)
system_reporter_add(account_code=system, username=reporter)
token, _ = Token.objects.get_or_create(user=user)
now = timezone.now()
Order.objects.bulk_create(
    [Order(channel=channel, external_id=f"P{run}-{n}", status="paid", buyer_name="bench",
           receiver_name="bench", receiver_phone="13800138000", phone_tail="8000",
           province="浙江省", city="杭州市", district="西湖区", address="文三路 100 号",
           goods_amount=Decimal("99.00"), total_amount=Decimal("99.00"), placed_at=now,
           paid_at=now, status_changed_at=now)
     for n in range(int(count))],
    batch_size=1000,
)
print(token.key)
"""


def _setup(env: dict[str, str], run: str, count: int) -> str:
    result = subprocess.run(
        [PYTHON, "-c", _SETUP, SYSTEM, WAREHOUSE, CHANNEL, REPORTER, run, str(count)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"bench setup failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def _fact(run: str, n: int) -> dict[str, Any]:
    return {
        "key": f"pack-{run}-{n}",
        "system": SYSTEM,
        "order": {"channel": CHANNEL, "external_id": f"P{run}-{n}"},
        "raw_status": "PACKED",
        "occurred_at": "2026-11-28T10:00:00+08:00",
    }


def _headers(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Token {token}"}


def _singles(token: str, run: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
    return [(json.dumps(_fact(run, n)).encode(), _headers(token)) for n in range(count)]


def _batches(token: str, run: str, first: int) -> list[tuple[bytes, dict[str, str]]]:
    return [
        (
            json.dumps([_fact(run, first + b * BATCH + k) for k in range(BATCH)]).encode(),
            _headers(token),
        )
        for b in range(BATCHES)
    ]


POLL_SECONDS = float(os.environ.get("BENCH_FACT_POLL_SECONDS", "1.0"))
# As many as the worker's processes run the task at once (the demo's worker: --concurrency 2).
APPLIERS = int(os.environ.get("BENCH_FACT_APPLIERS", "2"))

# The worker's facts task at the beat's cadence, until told to stop (a line on stdin) and
# nothing is left; prints the receipts it applied and the seconds it spent applying them.
_APPLIER = """
import select, sys, time, django
django.setup()
from channels_app.tasks import facts_apply_task
poll, applied, busy, stop = float(sys.argv[1]), 0, 0.0, False
while True:
    started = time.perf_counter()
    handled = facts_apply_task()
    if handled:
        applied += handled
        busy += time.perf_counter() - started
    if stop and not handled:
        break
    if select.select([sys.stdin], [], [], poll)[0]:
        sys.stdin.readline()
        stop = True
print(applied, busy)
"""


class Applier:
    """The facts task in its own process (its own database connection), as the worker."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-c", _APPLIER, str(POLL_SECONDS)], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self) -> tuple[int, float]:
        """Stop once nothing is left to apply: (receipts applied, seconds spent applying)."""
        out, err = self.process.communicate("stop\n", timeout=600)
        if self.process.returncode != 0:
            raise RuntimeError(f"applier failed:\n{err[-3000:]}")
        applied, busy = out.split()[-2:]
        return int(applied), float(busy)


_RECEIVED = "SELECT count(*) FROM channels_app_systemfactreceipt WHERE status = 'received'"
_LATENCY = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY applied_at - received_at),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY applied_at - received_at)
FROM channels_app_systemfactreceipt WHERE status = 'done' AND received_at >= %s
"""


def _latency(database_url: str, since: datetime) -> dict[str, float]:
    """Answer to applied (p50, p95 in seconds) of the facts received since ``since``."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(_LATENCY, [since]).fetchone()
    assert row is not None
    return {"p50": row[0].total_seconds(), "p95": row[1].total_seconds()}


def _warm_up(port: int, path: str, token: str) -> None:
    """A few requests per worker before measuring (a Django worker's first request imports
    the API's modules): an empty list, answered 400 without writing anything."""
    _load(port, path, [(b"[]", _headers(token))] * 8, ok=frozenset({400, 201}))


def _count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def _reset(database_url: str) -> None:
    _truncate(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE channels_app_systemfactreceipt CASCADE")


def main() -> None:
    database_url = _bench_database_url()
    env = _server_env(database_url)
    _manage(env, "migrate", "--noinput")
    _reset(database_url)
    print(
        f"facts API ({SYSTEM}, PACKED facts): {REQUESTS} one-fact requests per run, then "
        f"{BATCHES} batches of {BATCH}; {RUNS} runs; {APPLIERS} appliers every {POLL_SECONDS:g} s"
    )
    minimal_runs, api_runs, batch_runs, applied_runs = [], [], [], []
    api = Server("orderhub.wsgi:application", env)
    minimal = Server("bench.facts_bench:minimal_app", env)
    try:
        for index in range(RUNS):
            run = f"r{index}"
            _reset(database_url)
            token = _setup(env, run, REQUESTS + BATCHES * BATCH)
            if index == 0:
                _warm_up(minimal.port, "/", token)
                _warm_up(api.port, "/api/v1/facts/", token)
            # The ratio: answering alone, as the bare receiver does (nothing applies meanwhile).
            minimal_runs.append(
                _load(minimal.port, "/", _singles(token, run, REQUESTS), ok=ACCEPTED)
            )
            api_runs.append(
                _load(api.port, "/api/v1/facts/", _singles(token, run, REQUESTS), ok=ACCEPTED)
            )
            # The appliers take the one-fact requests' backlog (their rate while busy), then
            # run during the batches: those facts' time from answer to applied.
            appliers = [Applier(env) for _ in range(APPLIERS)]
            while _count(database_url, _RECEIVED) and all(a.running() for a in appliers):
                time.sleep(0.2)
            batches_started = datetime.now(UTC)
            started = time.perf_counter()
            batch = _load(
                api.port,
                "/api/v1/facts/",
                _batches(token, run, REQUESTS),
                ok=ACCEPTED,
                concurrency=min(CONCURRENCY, BATCHES),
            )
            elapsed = time.perf_counter() - started
            batch_runs.append({**batch, "facts": BATCHES * BATCH / elapsed})
            finished = [applier.finish() for applier in appliers]
            applied = sum(count for count, _busy in finished)
            busy = max(busy for _count_, busy in finished)
            done = _count(
                database_url,
                "SELECT count(*) FROM channels_app_systemfactreceipt WHERE status = 'done'",
            )
            if applied != REQUESTS + BATCHES * BATCH or done != applied:
                raise RuntimeError(f"applied {applied} facts, {done} receipts done")
            latency = _latency(database_url, batches_started)
            applied_runs.append({**latency, "rate": applied / busy if busy else 0.0})
        facts = _count(database_url, "SELECT count(*) FROM orderhub_statusfact")
        moved = _count(
            database_url, "SELECT count(*) FROM orderhub_order WHERE status = 'picked_packed'"
        )
        print(_summary("bare facts receiver (token look-up + 1 INSERT)", minimal_runs))
        print(_summary("OrderHub facts API, one fact per request (stored, 202)", api_runs))
        ratio = _median(api_runs, "rate") / _median(minimal_runs, "rate")
        # Each run measures the two back to back: the per-run ratio pairs them under the same
        # load from whatever else the machine runs.
        paired = [a["rate"] / m["rate"] for a, m in zip(api_runs, minimal_runs, strict=True)]
        print(
            f"facts API / bare receiver: {ratio:.0%} of the medians; per run "
            f"{', '.join(f'{r:.0%}' for r in paired)} (median {statistics.median(paired):.0%}); "
            "target >= 70%"
        )
        rates = ", ".join(f"{r['facts']:,.0f}" for r in batch_runs)
        print(
            f"facts API, batches of {BATCH}: {_median(batch_runs, 'facts'):,.0f} facts/s "
            f"accepted (runs {rates}), p50 {_median(batch_runs, 'p50'):.0f} ms per batch, "
            f"non-2xx {sum(int(r['failures']) for r in batch_runs)}"
        )
        applier_rates = ", ".join(f"{r['rate']:,.0f}" for r in applied_runs)
        print(
            f"answer to applied: p50 {_median(applied_runs, 'p50') * 1000:,.0f} ms, "
            f"p95 {_median(applied_runs, 'p95') * 1000:,.0f} ms (the batches' facts); "
            f"{APPLIERS} appliers {_median(applied_runs, 'rate'):,.0f} facts/s "
            f"(runs {applier_rates}); "
            f"last run: {facts} facts stored, {moved} orders picked_packed"
        )
    finally:
        api.stop()
        minimal.stop()


if __name__ == "__main__":
    main()
