"""Ledger figures: append rate with 8 writer processes, sealing rate, ledger_verify speed
(the hash chain, and the replay of the order events against the orders).

Runs against a dedicated database (``orderhub_bench`` on the embedded server, or
``BENCH_DATABASE_URL``), loaded to at least 1,000,000 sealed events, 900,000 of them the
lives of 100,000 orders (created, then eight transitions). Targets: appends >= 2,000
events/s with 8 writers; ledger_verify (chain and replay) of 1,000,000 events in < 60 s.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var" / "bench"
WRITERS = 8
EVENTS_PER_WRITER = 1_500
LEDGER_EVENTS = 1_000_000
ORDERS = 100_000
# The life of a bench order (trace_bench's ensure_orders: delivered, carrier SF): its
# order.created event, then one order.transition per step.
ORDER_STATUSES = (
    "placed", "paid", "stock_locked", "warehouse_accepted", "picked_packed", "waybill_issued",
    "handed_over", "collected", "delivered",
)  # fmt: skip


def bench_env() -> dict[str, str]:
    """Environment of the child process: the bench database, its own key and checkpoints."""
    sys.path.insert(0, str(BASE_DIR))
    from orderhub import embedded

    VAR.mkdir(parents=True, exist_ok=True)
    key_file = VAR / "ledger-signing-key.b64"
    if not key_file.exists():
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
        key_file.chmod(0o600)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL")
        or embedded.postgres_url("orderhub_bench"),
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        LEDGER_SIGNING_KEY=key_file.read_text().strip(),
        LEDGER_CHECKPOINT_DIR=str(VAR / "ledger-checkpoints"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(BASE_DIR),
    )
    return env


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {cpu}"


def setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def writer(number: int, count: int, start_at: float) -> None:
    """Child: append ``count`` events, one transaction each, starting at ``start_at``."""
    import django

    django.setup()
    from django.db import connection, transaction

    from traceability.services import ledger_append

    connection.ensure_connection()
    while time.time() < start_at:
        time.sleep(0.005)
    started = time.perf_counter()
    for index in range(count):
        with transaction.atomic():
            ledger_append(
                action="bench.append",
                actor=f"writer-{number}",
                order_id=None,
                subject_type="bench",
                subject_id=f"{number}-{index}",
                source_system="bench",
                after={"n": index, "text": "基准"},
            )
    print(f"{time.perf_counter() - started:.6f}", flush=True)


def append_rate(env: dict[str, str]) -> tuple[float, float]:
    """(events/s over the wall time of all writers, seconds)."""
    start_at = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--writer", str(n), str(EVENTS_PER_WRITER), str(start_at)],
            env=env,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    outputs = [process.communicate()[0] for process in processes]
    if any(process.returncode for process in processes):
        raise RuntimeError(f"a writer failed: {outputs}")
    wall = max(float(output.strip().splitlines()[-1]) for output in outputs)
    return WRITERS * EVENTS_PER_WRITER / wall, wall


def ensure_ledger_events(total: int, *, order_ids: tuple[int, int] | None = None) -> int:
    """Bulk-load events (INSERT ... SELECT generate_series) until ``total`` exist. Returns how
    many were added. ``order_ids`` = (first, count): spread the new events over those orders."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traceability_ledgerevent")
        missing = total - cursor.fetchone()[0]
        if missing <= 0:
            return 0
        first, count = order_ids or (0, 0)
        order_expr = f"{first} + (g %% {count})" if count else "NULL"
        cursor.execute(
            "INSERT INTO traceability_ledgerevent (created_at, actor, action, order_id, "  # noqa: S608 - integers of this run
            'subject_type, subject_id, source_system, before, after, "references") '
            f"SELECT now() - make_interval(secs => %s - g), 'bench', 'bench.bulk', "
            f"{order_expr}, 'order', g::text, 'bench', "
            "jsonb_build_object('status', 'paid'), "
            "jsonb_build_object('status', 'stock_locked', 'n', g), "
            "jsonb_build_object('reason', '批量 ' || g) "
            "FROM generate_series(1, %s) AS g",
            [missing, missing],
        )
    return missing


def ensure_order_events(*, limit: int) -> int:
    """Give bench orders without an ``order.created`` event their lives in the ledger (at most
    ``limit`` events), as the services write them, so the replay agrees. Returns how many."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "WITH steps (step, before_status, after_status) AS ("
            "    SELECT n, statuses[n], statuses[n + 1] FROM (SELECT %(statuses)s::text[]) AS s "
            "    (statuses), generate_series(0, array_length(statuses, 1) - 1) AS n) "
            "INSERT INTO traceability_ledgerevent (created_at, actor, action, order_id, "
            'subject_type, subject_id, source_system, before, after, "references") '
            "SELECT now() - make_interval(mins => 10 - st.step), 'bench', "
            "CASE WHEN st.step = 0 THEN 'order.created' ELSE 'order.transition' END, o.id, "
            "'order', o.id::text, 'bench', "
            "CASE WHEN st.step = 0 THEN '{}'::jsonb "
            "ELSE jsonb_build_object('status', st.before_status) END, "
            "CASE WHEN st.step = 0 THEN jsonb_build_object('channel', o.channel, "
            "'external_id', o.external_id, 'status', st.after_status, 'warehouse', '', "
            "'carrier', o.carrier, 'tracking_number', o.tracking_number) "
            "ELSE jsonb_build_object('status', st.after_status) END, "
            "jsonb_build_object('reason', 'bench') "
            "FROM (SELECT id, channel, external_id, carrier, tracking_number "
            "      FROM orderhub_order o WHERE o.channel = 'bench' AND o.status = 'delivered' "
            "      AND o.warehouse_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
            "      traceability_ledgerevent e WHERE e.order_id = o.id) "
            "      ORDER BY id LIMIT %(orders)s) AS o "
            "CROSS JOIN steps st ORDER BY o.id, st.step",
            {"statuses": list(ORDER_STATUSES), "orders": limit // len(ORDER_STATUSES)},
        )
        return cursor.rowcount


def seal_all() -> tuple[int, float]:
    from traceability.services import ledger_checkpoint_write, ledger_seal

    started = time.perf_counter()
    total = 0
    while True:
        result = ledger_seal(max_events=200_000, batch_size=10_000, sweep=total == 0)
        total += result.sealed
        if result.sealed == 0:
            break
    ledger_checkpoint_write(force=True)
    return total, time.perf_counter() - started


def run() -> None:
    env = bench_env()
    os.environ.update(env)
    setup_django()
    print(f"machine: {machine()}", flush=True)

    rate, wall = append_rate(env)
    print(
        f"ledger append, {WRITERS} writer processes x {EVENTS_PER_WRITER} events "
        f"(one transaction each): {rate:,.0f} events/s ({wall:.2f} s wall)   target >= 2,000/s",
        flush=True,
    )
    from bench.trace_bench import ensure_orders
    from traceability.models import LedgerEvent

    ensure_orders(ORDERS)
    added = ensure_order_events(limit=max(0, LEDGER_EVENTS - LedgerEvent.objects.count()))
    added += ensure_ledger_events(LEDGER_EVENTS)
    if added:
        print(f"bulk-loaded {added:,} ledger events", flush=True)
    sealed, seconds = seal_all()
    if sealed:
        print(f"sealer: {sealed:,} events in {seconds:.1f} s ({sealed / seconds:,.0f} events/s)")

    from traceability import checkpoints
    from traceability.replay import ledger_replay
    from traceability.verify import ledger_verify

    timings = []
    report = None
    for _ in range(1):
        started = time.perf_counter()
        report = ledger_verify(public_key=checkpoints.public_key())
        timings.append(time.perf_counter() - started)
    assert report is not None
    status = "OK" if report.ok else f"BROKEN {report.broken}"
    print(
        f"ledger_verify: {report.events_checked:,} events, {report.checkpoints_checked} "
        f"checkpoints, {status}: {statistics.median(timings):.1f} s "
        f"({report.events_checked / statistics.median(timings):,.0f} events/s)   "
        "target 1,000,000 in < 60 s",
        flush=True,
    )
    started = time.perf_counter()
    replay = ledger_replay()
    replay_seconds = time.perf_counter() - started
    chain_seconds = statistics.median(timings)
    print(
        f"ledger_verify replay: {replay.events:,} order events of {replay.orders:,} orders, "
        f"{len(replay.findings):,} disagreements: {replay_seconds:.1f} s; "
        f"ledger_verify in all (chain + replay): {chain_seconds + replay_seconds:.1f} s   "
        "target < 60 s",
        flush=True,
    )


def main() -> None:
    """Run in a child process of its own (its own database settings)."""
    subprocess.run([sys.executable, __file__, "--run"], check=True, cwd=BASE_DIR)


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--run":
        run()
    else:
        main()
