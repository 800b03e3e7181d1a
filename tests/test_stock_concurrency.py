"""Racing on the last units and on one idempotency key, each in its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from channels_app.models import SystemFactReceipt
from channels_app.services import channel_account_create
from channels_app.services.system_facts import SystemFactIn, system_facts_record
from orderhub.choices import Milestone
from orderhub.models import OrderLine, StatusFact, StockLevel, StockReservation, StockShortage
from orderhub.services import order_transition
from orderhub.services.stock import StockLevelIn, stock_levels_report, stock_reserve_for_order
from tests.factories import OrderFactory, WarehouseFactory


def race(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_orders_racing_for_the_last_units_one_reserves_one_is_short() -> None:
    warehouse = WarehouseFactory.create(code="WH-A")
    stock_levels_report(levels=[StockLevelIn("WH-A", "SKU-1", 3)], source="wms:t")
    orders = []
    for _ in range(2):
        order = OrderFactory.create(warehouse=warehouse)
        OrderLine.objects.create(order=order, line_no=1, sku="SKU-1", quantity=2,
                                 unit_price=Decimal("1.00"), amount=Decimal("2.00"))  # fmt: skip
        order_transition(order_id=order.pk, target=Milestone.PAID)
        orders.append(order)
    results = race(*(lambda o=o: stock_reserve_for_order(order_id=o.pk) for o in orders))
    assert sorted(results) == ["reserved", "short"]
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (3, 2)
    assert StockReservation.objects.count() == 1
    shortage = StockShortage.objects.get()
    assert (shortage.sku, shortage.missing) == ("SKU-1", 1)


@pytest.mark.django_db(transaction=True)
def test_the_same_key_at_once_writes_one_fact_and_both_answer_alike() -> None:
    from django.contrib.auth.models import User

    WarehouseFactory.create(code="WH-A")
    account = channel_account_create(
        kind="wms", code="wms-a", options={"warehouse": "WH-A"}, secrets={}
    )
    admin = User.objects.create_superuser("root")
    order = OrderFactory.create()
    item = SystemFactIn(
        key="k-1", raw_status="PACKED", occurred_at=timezone.now(), order_id=order.pk
    )

    def call() -> Any:
        return system_facts_record(account=account, items=[item], user=admin)[0]

    for _round in range(3):
        first, second = race(call, call)
        assert first.body == second.body
        assert sorted([first.status, second.status]) in ([200, 201], [200, 200])
    assert StatusFact.objects.count() == 1
    assert SystemFactReceipt.objects.count() == 1
