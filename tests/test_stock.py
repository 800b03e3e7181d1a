"""Stock: reservation when an order is paid, shortage with the missing quantity, release on
cancel; exact levels before and after."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from orderhub.celery import app
from orderhub.choices import Milestone
from orderhub.models import (
    Order,
    OrderLine,
    StatusFact,
    StockLevel,
    StockReservation,
    StockShortage,
    Warehouse,
)
from orderhub.services import order_transition
from orderhub.services.stock import (
    StockInputError,
    StockLevelIn,
    stock_levels_report,
    stock_release_for_order,
    stock_reserve_for_order,
)
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


def order_with_lines(*lines: tuple[str, int], warehouse: Warehouse | None = None) -> Order:
    order = OrderFactory.create(warehouse=warehouse)
    for number, (sku, quantity) in enumerate(lines, start=1):
        OrderLine.objects.create(order=order, line_no=number, sku=sku, quantity=quantity,
                                 unit_price=Decimal("1.00"), amount=Decimal(quantity))  # fmt: skip
    return order


def levels() -> list[tuple[str, str, int, int]]:
    return list(
        StockLevel.objects.order_by("warehouse__code", "sku").values_list(
            "warehouse__code", "sku", "on_hand", "reserved"
        )
    )


def report(*rows: tuple[str, str, int]) -> None:
    stock_levels_report(
        levels=[StockLevelIn(warehouse=w, sku=s, on_hand=n) for w, s, n in rows], source="wms:t"
    )


@pytest.mark.django_db
def test_paid_order_reserves_in_the_first_warehouse_with_every_line(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    WarehouseFactory.create(code="WH-A")
    WarehouseFactory.create(code="WH-B")
    report(("WH-A", "SKU-1", 10), ("WH-A", "SKU-2", 0), ("WH-B", "SKU-1", 5), ("WH-B", "SKU-2", 2))
    order = order_with_lines(("SKU-1", 2), ("SKU-2", 1), ("SKU-1", 1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order_transition(order_id=order.pk, target=Milestone.PAID)
    assert len(callbacks) >= 1
    assert levels() == [
        ("WH-A", "SKU-1", 10, 0), ("WH-A", "SKU-2", 0, 0),
        ("WH-B", "SKU-1", 5, 3), ("WH-B", "SKU-2", 2, 1),
    ]  # fmt: skip
    assert list(
        StockReservation.objects.order_by("sku").values_list(
            "warehouse__code", "sku", "quantity", "status"
        )
    ) == [("WH-B", "SKU-1", 3, "reserved"), ("WH-B", "SKU-2", 1, "reserved")]
    order.refresh_from_db()
    assert order.warehouse is not None
    assert (order.status, order.warehouse.code) == (Milestone.STOCK_LOCKED, "WH-B")
    fact = StatusFact.objects.get(system="orderhub:stock")
    assert (fact.raw_status, fact.milestone, fact.outcome) == (
        "stock_locked",
        "stock_locked",
        "advanced",
    )
    assert LedgerEvent.objects.get(action="order.warehouse_assigned").after == {"warehouse": "WH-B"}
    assert LedgerEvent.objects.get(action="stock.reserved").after == {
        "warehouse": "WH-B", "reserved": {"SKU-1": 3, "SKU-2": 1},
    }  # fmt: skip
    assert StockShortage.objects.count() == 0
    # Twice: nothing more is reserved.
    assert stock_reserve_for_order(order_id=order.pk) == "already"
    assert levels()[2:] == [("WH-B", "SKU-1", 5, 3), ("WH-B", "SKU-2", 2, 1)]


@pytest.mark.django_db
def test_shortage_records_the_missing_quantity_and_reserves_nothing() -> None:
    warehouse = WarehouseFactory.create(code="WH-A")
    report(("WH-A", "SKU-1", 10), ("WH-A", "SKU-2", 1))
    StockLevel.objects.filter(sku="SKU-1").update(reserved=9)
    order = order_with_lines(("SKU-1", 3), ("SKU-2", 1), ("SKU-3", 2), warehouse=warehouse)
    order_transition(order_id=order.pk, target=Milestone.PAID)
    assert stock_reserve_for_order(order_id=order.pk) == "short"
    assert list(
        StockShortage.objects.order_by("sku").values_list("sku", "warehouse__code", "missing")
    ) == [("SKU-1", "WH-A", 2), ("SKU-3", "WH-A", 2)]
    assert levels() == [("WH-A", "SKU-1", 10, 9), ("WH-A", "SKU-2", 1, 0)]
    assert StockReservation.objects.count() == 0
    assert Order.objects.get(pk=order.pk).status == Milestone.PAID
    assert LedgerEvent.objects.get(action="stock.shortage").after == {
        "warehouse": "WH-A", "missing": {"SKU-1": 2, "SKU-3": 2},
    }  # fmt: skip
    # A rerun keeps one open shortage per SKU.
    assert stock_reserve_for_order(order_id=order.pk) == "short"
    assert StockShortage.objects.count() == 2
    # Stock arrives: the next attempt reserves and resolves the shortages.
    report(("WH-A", "SKU-1", 12), ("WH-A", "SKU-3", 2))
    assert stock_reserve_for_order(order_id=order.pk) == "reserved"
    assert levels() == [("WH-A", "SKU-1", 12, 12), ("WH-A", "SKU-2", 1, 1), ("WH-A", "SKU-3", 2, 2)]
    assert StockShortage.objects.filter(resolved_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_cancel_releases_the_reservation(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    warehouse = WarehouseFactory.create(code="WH-A")
    report(("WH-A", "SKU-1", 4))
    order = order_with_lines(("SKU-1", 3), warehouse=warehouse)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order_id=order.pk, target=Milestone.PAID)
    assert levels() == [("WH-A", "SKU-1", 4, 3)]
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order_id=order.pk, target=Milestone.CANCELLED)
    assert levels() == [("WH-A", "SKU-1", 4, 0)]
    reservation = StockReservation.objects.get()
    assert (reservation.status, reservation.released_at is not None) == ("released", True)
    assert LedgerEvent.objects.get(action="stock.released").after == {"released": {"SKU-1": 3}}
    assert stock_release_for_order(order_id=order.pk) == 0  # twice: nothing more
    assert levels() == [("WH-A", "SKU-1", 4, 0)]


@pytest.mark.django_db
def test_untracked_skus_and_cancelled_orders_are_left_alone() -> None:
    order = order_with_lines(("SKU-9", 1))
    order_transition(order_id=order.pk, target=Milestone.PAID)
    assert stock_reserve_for_order(order_id=order.pk) == "untracked"
    order_transition(order_id=order.pk, target=Milestone.CANCELLED)
    assert stock_reserve_for_order(order_id=order.pk) == "skipped"
    assert stock_reserve_for_order(order_id=order.pk + 1000) == "gone"
    assert (StockReservation.objects.count(), StockShortage.objects.count()) == (0, 0)
    assert not LedgerEvent.objects.filter(action__startswith="stock.").exists()


@pytest.mark.django_db
def test_levels_report_with_an_unknown_warehouse_stores_nothing() -> None:
    WarehouseFactory.create(code="WH-A")
    with pytest.raises(StockInputError) as error:
        report(("WH-A", "SKU-1", 1), ("WH-X", "SKU-1", 1))
    assert error.value.errors == {1: {"warehouse": ["warehouse WH-X does not exist"]}}
    assert StockLevel.objects.count() == 0
