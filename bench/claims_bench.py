"""Warehouse claims: claims/s through ``allocation_claim`` (the whole first-claim-wins path:
the deciding INSERT, the winner's transition, wave, ledger events and certificate; the losers'
read of the winner's certificate) beside the same run's raw rate of the deciding statement
alone (``INSERT ... ON CONFLICT DO NOTHING RETURNING``, one transaction each, same processes).

``BENCH_CLAIM_ORDERS`` orders (default 1,000) offered to ``BENCH_CLAIMANTS`` warehouses
(default 4), one competing process per warehouse, on the bench database of ``ledger_bench``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ORDERS = int(os.environ.get("BENCH_CLAIM_ORDERS", "1000"))
CLAIMANTS = int(os.environ.get("BENCH_CLAIMANTS", "4"))


def _setup_django() -> None:
    import django

    django.setup()


def prepare(tag: str) -> None:
    """The orders (stock locked, offered to every claimant) and the raw table."""
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from orderhub.allocation.services import offers_open
    from orderhub.choices import Milestone
    from orderhub.models import Order, Warehouse

    Warehouse.objects.filter(code__startswith="BENCH-").update(is_active=False)
    for n in range(CLAIMANTS):
        Warehouse.objects.update_or_create(
            code=f"BENCH-{tag}-{n}", defaults={"name": f"bench {n}", "is_active": True}
        )
    orders = Order.objects.bulk_create(
        [
            Order(channel=f"bench-claims-{tag}", external_id=str(n), status=Milestone.STOCK_LOCKED)
            for n in range(ORDERS)
        ]
    )
    offers_open(order_ids=[order.pk for order in orders])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_claim (order_id bigint PRIMARY KEY, "
            "warehouse text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute("TRUNCATE bench_raw_claim")


def claimant(tag: str, number: int, mode: str, start_at: float) -> None:
    _setup_django()
    from django.db import connection, transaction

    from orderhub.allocation.services import allocation_claim
    from orderhub.models import Order

    ids = list(
        Order.objects.filter(channel=f"bench-claims-{tag}")
        .order_by("id")
        .values_list("id", flat=True)
    )
    code = f"BENCH-{tag}-{number}"
    while time.time() < start_at:
        time.sleep(0.005)
    if mode == "service":
        for order_id in ids:
            allocation_claim(order_id=order_id, warehouse_code=code)
    else:
        with connection.cursor() as cursor:
            for order_id in ids:
                with transaction.atomic():
                    cursor.execute(
                        "INSERT INTO bench_raw_claim (order_id, warehouse) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING order_id",
                        [order_id, code],
                    )
                    cursor.fetchall()


def _race(env: dict[str, str], tag: str, mode: str) -> float:
    start_at = time.time() + 4.0
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--claimant", tag, str(n), mode, str(start_at)],
            cwd=BASE_DIR,
            env=env,
        )
        for n in range(CLAIMANTS)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"{mode} claimant failed")
    return time.time() - start_at


def run() -> None:
    from bench.ledger_bench import bench_env

    env = bench_env()
    tag = str(int(time.time()))
    subprocess.run([sys.executable, __file__, "--prepare", tag], cwd=BASE_DIR, env=env, check=True)
    attempts = ORDERS * CLAIMANTS
    service = _race(env, tag, "service")
    raw = _race(env, tag, "raw")
    print(f"orders {ORDERS}, competing claimants {CLAIMANTS}, claim attempts {attempts} each run")
    print(
        f"claims (allocation_claim):           {attempts / service:8.0f} claims/s "
        f"({ORDERS / service:.0f} wins/s, {service:.1f} s)"
    )
    print(
        f"raw INSERT ... ON CONFLICT (same run): {attempts / raw:8.0f} statements/s ({raw:.1f} s)"
    )
    print(f"ratio: {raw / service * 100:.1f} % of the raw statement rate")


def main() -> None:
    run()


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        prepare(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--claimant":
        claimant(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    else:
        main()
