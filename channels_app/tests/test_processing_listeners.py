"""The listeners a processing batch wakes are batch-shaped: one stock task per flush whatever
the number of paid orders (each order still reserved on its own), and the order look-ups by
(channel, order id) match exactly the pairs asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_app.models import ChannelAccount
from channels_app.services import channel_account_create, inbox_process_pending
from channels_app.tests.conftest import TEST_SECRET
from channels_app.tests.test_processing import created, paid, store
from channels_app.tests.test_processing_batch import paid_with_lines
from orderhub.celery import app
from orderhub.models import Order, StockLevel, StockReservation
from orderhub.services.stock import StockLevelIn, stock_levels_report
from orderhub.sql import pairs_q
from orderhub.tasks import _each_order
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent


@pytest.fixture
def eager() -> Iterator[None]:
    """Run the tasks the hooks queue on commit in the test's thread."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def process_batch(
    account: ChannelAccount, bodies: list[bytes], capture: Any
) -> list[Callable[[], None]]:
    """Store ``bodies`` and process them as one batch; the on-commit callbacks it queued
    (not run yet)."""
    for n, body in enumerate(bodies):
        store(account, body, delivery=f"d-{n}-{len(bodies)}")
    with capture(execute=False) as callbacks:
        assert inbox_process_pending(limit=100) == len(bodies)
    return list(callbacks)


@pytest.mark.django_db
def test_a_batch_of_paid_orders_queues_one_stock_task_that_reserves_each(
    account: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    WarehouseFactory.create(code="WH-A")
    stock_levels_report(
        levels=[StockLevelIn("WH-A", "SKU-1", 100), StockLevelIn("WH-A", "SKU-2", 100)],
        source="wms:t",
    )
    callbacks = process_batch(
        account, [paid_with_lines(f"P{n}") for n in range(12)], django_capture_on_commit_callbacks
    )
    # One message for the twelve paid orders (it was twelve: one per order).
    assert len(callbacks) == 1
    assert StockReservation.objects.count() == 0  # nothing before the commit's callback runs
    callbacks[0]()
    reserved = StockReservation.objects.values_list("order__external_id", "sku", "quantity")
    assert sorted(reserved) == sorted(
        (f"P{n}", sku, quantity)
        for n in range(12)
        for sku, quantity in (("SKU-1", 2), ("SKU-2", 1))
    )
    assert sorted(StockLevel.objects.values_list("sku", "on_hand", "reserved")) == [
        ("SKU-1", 100, 24),
        ("SKU-2", 100, 12),
    ]
    assert set(Order.objects.values_list("status", flat=True)) == {"stock_locked"}
    assert LedgerEvent.objects.filter(action="stock.reserved").count() == 12


@pytest.mark.django_db
def test_a_batch_of_placed_orders_queues_no_stock_task(
    account: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    WarehouseFactory.create(code="WH-A")
    stock_levels_report(levels=[StockLevelIn("WH-A", "SKU-1", 100)], source="wms:t")
    callbacks = process_batch(
        account, [created(f"C{n}") for n in range(12)], django_capture_on_commit_callbacks
    )
    assert callbacks == []
    assert Order.objects.filter(status="placed").count() == 12
    assert StockReservation.objects.count() == 0
    assert StockLevel.objects.get(sku="SKU-1").reserved == 0


def test_one_order_failing_in_a_stock_task_leaves_the_others_done_and_fails_the_task() -> None:
    done: list[int] = []

    def service(*, order_id: int) -> str:
        if order_id == 2:
            raise RuntimeError("order 2 is broken")
        done.append(order_id)
        return "reserved"

    with pytest.raises(RuntimeError, match="order 2 is broken"):
        _each_order([1, 2, 3, 1], service)
    assert done == [1, 3]  # the one after the failure ran too; a repeated id runs once
    assert _each_order([4, 5, 4], service) == {"4": "reserved", "5": "reserved"}
    assert done == [1, 3, 4, 5]


@pytest.mark.django_db
def test_pairs_q_matches_exactly_the_pairs_given(django_assert_num_queries: Any) -> None:
    a1 = OrderFactory.create(channel="shop-a", external_id="X1")
    OrderFactory.create(channel="shop-b", external_id="X1")  # same id, other channel
    OrderFactory.create(channel="shop-a", external_id="X2")
    b2 = OrderFactory.create(channel="shop-b", external_id="X2")
    pairs = [("shop-a", "X1"), ("shop-b", "X2"), ("shop-c", "X1")]
    found = Order.objects.filter(pairs_q("channel", "external_id", pairs)).order_by("pk")
    assert list(found) == [a1, b2]
    with django_assert_num_queries(0):  # no pairs: nothing matches, nothing is asked
        assert list(Order.objects.filter(pairs_q("channel", "external_id", []))) == []


@pytest.mark.django_db
def test_one_batch_from_two_channels_with_the_same_order_ids_keeps_them_apart(
    account: ChannelAccount,
) -> None:
    other = channel_account_create(
        kind=account.kind, code="other-shop", options={}, secrets={"secret": TEST_SECRET}
    )
    for shop in (account, other):
        for n in range(3):
            store(shop, created(f"S{n}"), delivery=f"{shop.code}-c{n}")
    assert inbox_process_pending(limit=100) == 6
    # Paid for two of test-shop's orders and one of other-shop's, in one batch: each lands on
    # its own channel's order, none on the other channel's order with the same id.
    store(account, paid("S0"), delivery="p0")
    store(account, paid("S2"), delivery="p2")
    store(other, paid("S1"), delivery="o1")
    assert inbox_process_pending(limit=100) == 3
    assert sorted(Order.objects.values_list("channel", "external_id", "status")) == [
        ("other-shop", "S0", "placed"),
        ("other-shop", "S1", "paid"),
        ("other-shop", "S2", "placed"),
        ("test-shop", "S0", "paid"),
        ("test-shop", "S1", "placed"),
        ("test-shop", "S2", "paid"),
    ]
