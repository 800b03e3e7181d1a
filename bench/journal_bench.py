"""Intake with the database down (the emergency journal) beside the normal intake, same run.

One gunicorn intake (``BENCH_WORKERS`` sync workers) whose database connections go through
the drills' fault proxy. Each run sends ``BENCH_JOURNAL_REQUESTS`` signed webform deliveries
with ``BENCH_CONCURRENCY`` client threads while the database is up (the reference: verified,
stored in the inbox over persistent connections, ``BENCH_CONN_MAX_AGE``), then as many while
the proxy refuses every database connection (each delivery verified with the account the
process holds, appended to the journal and fsynced), then waits until the journal is
replayed. Which comes first alternates between runs. Figures are medians of ``BENCH_RUNS``
runs; target: the journal's rate at least 80 % of the normal one, p99 with the database down
under 50 ms.

Then the fault drills with ``BENCH_DRILL_DELIVERIES`` deliveries each (``BENCH_DRILLS``: a
comma-separated subset of the faults, ``none`` to skip), as ``manage.py drill`` prints them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

REQUESTS = int(os.environ.get("BENCH_JOURNAL_REQUESTS", "300"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Persistent database connections, as a production intake has them (0: one per request).
CONN_MAX_AGE = os.environ.get("BENCH_CONN_MAX_AGE", "60")
DRILL_DELIVERIES = int(os.environ.get("BENCH_DRILL_DELIVERIES", "300"))
DRILLS = os.environ.get("BENCH_DRILLS", "database,database-hung,redis,worker,sealer,disk-full")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _fsync_reference(folder: object, count: int = 200) -> tuple[float, float]:
    """p50 and p99 (ms) of one 600-byte append plus fsync in ``folder``: the disk's part of
    every journaled delivery, measured beside it."""
    path = os.path.join(str(folder), "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    timings = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, b"x" * 600)
            os.fsync(fd)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return _percentile(timings, 0.5), _percentile(timings, 0.99)


def _rates() -> None:
    import tempfile
    from pathlib import Path

    from django.conf import settings

    from channels_app.drill.runner import IntakeServer, database_proxy, webform_deliver
    from channels_app.journal import journal_status_read
    from channels_app.models import InboundMessage
    from channels_app.services import channel_account_create

    code = f"bench-journal-{secrets.token_hex(3)}"
    secret = secrets.token_urlsafe(24)
    channel_account_create(
        kind="webform", code=code, options={}, secrets={"hmac_secret": secret}, source="bench"
    )
    work_dir = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=settings.VAR_DIR))
    proxy, url = database_proxy()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url, JOURNAL_DIR=str(work_dir / "journal"), PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="orderhub.settings", DATABASE_CONN_MAX_AGE=CONN_MAX_AGE,
    )  # fmt: skip
    env.setdefault("DEBUG", "true")
    server = IntakeServer(env, WORKERS, work_dir / "intake.log")
    number = 0

    def load(count: int) -> tuple[float, list[float], int]:
        nonlocal number
        numbers = range(number, number + count)
        number += count
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            results = list(
                pool.map(lambda n: webform_deliver(server.port, code, secret, n), numbers)
            )
        seconds = time.perf_counter() - started
        ok = sum(1 for _d, status, _ms in results if 200 <= status < 300)
        return count / seconds, [ms for _d, _s, ms in results], ok

    def drained(expected: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stored = InboundMessage.objects.filter(account__code=code).count()
            if stored >= expected and journal_status_read(work_dir / "journal").records == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the journal was not replayed within 120 s")

    normal: list[tuple[float, float]] = []
    down: list[tuple[float, float]] = []
    refused = 0
    try:
        server.wait_ready()
        load(max(20, REQUESTS // 10))  # warm up: every worker has read the account
        for run in range(RUNS):
            for phase in ("normal", "down") if run % 2 == 0 else ("down", "normal"):
                if phase == "down":
                    proxy.block()
                    time.sleep(0.2)
                rate, latencies, ok = load(REQUESTS)
                refused += REQUESTS - ok
                figures = (rate, _percentile(latencies, 0.99))
                (down if phase == "down" else normal).append(figures)
                if phase == "down":
                    proxy.unblock()
                    drained(number)
                print(
                    f"run {run + 1} {phase:6}: {rate:6.0f} deliveries/s, p99 {figures[1]:.1f} ms",
                    flush=True,
                )
    finally:
        server.stop()
        proxy.stop()
    fsync_p50, fsync_p99 = _fsync_reference(work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    normal_rate = statistics.median(rate for rate, _p99 in normal)
    down_rate = statistics.median(rate for rate, _p99 in down)
    print(
        f"intake, database up (reference): median {normal_rate:.0f} deliveries/s, "
        f"p99 {statistics.median(p99 for _r, p99 in normal):.1f} ms"
    )
    print(
        f"intake, database down (journal): median {down_rate:.0f} deliveries/s, "
        f"p99 {statistics.median(p99 for _r, p99 in down):.1f} ms "
        f"({down_rate / normal_rate:.0%} of the reference; target >= 80 %, p99 < 50 ms)"
    )
    print(
        f"append + fsync of 600 bytes in the journal's folder (its disk, same run): "
        f"p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms"
    )
    print(
        f"({RUNS} runs x {REQUESTS} deliveries each way, {CONCURRENCY} senders, "
        f"{WORKERS} gunicorn workers, database connections through the fault proxy kept "
        f"{CONN_MAX_AGE} s; answered other than 2xx: {refused})"
    )


def _drills() -> None:
    from channels_app.drill.runner import drill_run

    for fault in [name for name in DRILLS.split(",") if name and name != "none"]:
        print(f"\n-- drill --fault {fault} --deliveries {DRILL_DELIVERIES}", flush=True)
        report = drill_run(fault=fault, deliveries=DRILL_DELIVERIES)
        for line in report.lines():
            print(line, flush=True)
        if report.failed:
            print("FAILED: lost, duplicated, or the ledger unsealed or broken", flush=True)


def main() -> None:
    import django

    django.setup()
    _rates()
    _drills()


if __name__ == "__main__":
    main()
