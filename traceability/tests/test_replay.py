"""``ledger_verify`` replays the ledger against the orders: writes behind either's back show."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from orderhub import services as order_services
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.models import Order, Warehouse
from orderhub.services import order_transition, order_upsert, status_fact_record
from traceability.models import LedgerEvent
from traceability.services import ledger_append, ledger_seal_and_checkpoint
from traceability.tests.test_ledger import T0, tamper


def run_verify(*args: str) -> tuple[int, list[str], list[str]]:
    """(exit status, stdout lines, stderr lines), timings replaced by ``T``."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("ledger_verify", "--no-progress", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)

    def lines(text: str) -> list[str]:
        return [re.sub(r"\d+\.\d s$", "T s", line) for line in text.splitlines()]

    return code, lines(out.getvalue()), lines(err.getvalue())


def _service(name: str) -> Callable[..., Order] | None:
    """A service helper a1 adds (``order_warehouse_assign``, ``order_tracking_set``), if
    present: the tests use the real one once it is merged."""
    return getattr(order_services, name, None)


@transaction.atomic
def warehouse_assign(order_id: int, code: str) -> None:
    """Assign the warehouse through the service, or (before it exists) as the contract says:
    the row and an ``order.warehouse_assigned`` event in one transaction."""
    service = _service("order_warehouse_assign")
    if service is not None:
        service(order_id=order_id, warehouse_code=code, source="admin", reason="test")
        return
    order = (
        Order.objects.select_for_update(of=("self",)).select_related("warehouse").get(pk=order_id)
    )
    before = order.warehouse.code if order.warehouse else ""
    Order.objects.filter(pk=order_id).update(warehouse=Warehouse.objects.get(code=code))
    ledger_append(
        action="order.warehouse_assigned", actor="admin", order_id=order_id,
        subject_type="order", subject_id=order_id, source_system="admin",
        before={"warehouse": before}, after={"warehouse": code},
    )  # fmt: skip


@transaction.atomic
def tracking_set(order_id: int, carrier: str, tracking_number: str) -> None:
    service = _service("order_tracking_set")
    if service is not None:
        service(
            order_id=order_id, carrier=carrier, tracking_number=tracking_number,
            source="admin", reason="test",
        )  # fmt: skip
        return
    order = Order.objects.select_for_update().get(pk=order_id)
    before = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    Order.objects.filter(pk=order_id).update(carrier=carrier, tracking_number=tracking_number)
    ledger_append(
        action="order.tracking_set", actor="admin", order_id=order_id, subject_type="order",
        subject_id=order_id, source_system="admin", before=before,
        after={"carrier": carrier, "tracking_number": tracking_number},
    )  # fmt: skip


def new_order(external_id: str, **fields: Any) -> Order:
    return order_upsert(
        normalized=NormalizedOrder(
            channel="shopify-main",
            external_id=external_id,
            buyer_name="韩梅梅",
            total_amount=Decimal("10.00"),
            lines=(NormalizedLine(line_no=1, sku="SKU-1", quantity=1, unit_price=Decimal("10")),),
            **fields,
        ),
        source="shopify:main",
    )


@pytest.fixture
def healthy_orders(db: None) -> list[Order]:
    """Three orders with real lives: transitions, a fact, a warehouse, a tracking number."""
    Warehouse.objects.create(code="WH-SH", name="上海仓")
    Warehouse.objects.create(code="WH-BJ", name="北京仓")
    placed = new_order("R-1")
    shipped = new_order("R-2")
    order_transition(order_id=shipped.pk, target=Milestone.PAID, source="shopify:main")
    status_fact_record(
        order_id=shipped.pk,
        fact=StatusFactIn("erp:main", "已审核", Milestone.STOCK_LOCKED, T0),
    )
    warehouse_assign(shipped.pk, "WH-SH")
    order_transition(order_id=shipped.pk, target=Milestone.WAREHOUSE_ACCEPTED, source="wms")
    tracking_set(shipped.pk, "SF", "SF1234567890")
    moved = new_order("R-3", carrier="YTO", tracking_number="YT0001")  # set by the channel
    warehouse_assign(moved.pk, "WH-SH")
    warehouse_assign(moved.pk, "WH-BJ")
    tracking_set(moved.pk, "ZTO", "ZT0002")
    ledger_seal_and_checkpoint()
    return [placed, shipped, moved]


def test_order_created_event_states_the_initial_values(healthy_orders: list[Order]) -> None:
    moved = healthy_orders[2]
    created = LedgerEvent.objects.get(order_id=moved.pk, action="order.created")
    assert created.after == {
        "channel": "shopify-main",
        "external_id": "R-3",
        "status": "placed",
        "warehouse": "",
        "carrier": "YTO",
        "tracking_number": "YT0001",
    }


def test_healthy_orders_replay_clean(healthy_orders: list[Order]) -> None:
    events = LedgerEvent.objects.count()
    order_events = LedgerEvent.objects.filter(action__startswith="order.").count()
    head = LedgerEvent.objects.order_by("-seal__seq").values_list("seal__hash", flat=True)[0]
    assert Order.objects.get(pk=healthy_orders[1].pk).status == Milestone.WAREHOUSE_ACCEPTED
    assert run_verify() == (
        0,
        [
            f"OK: {events} events, head seq {events} hash {head}, 1 signed checkpoints "
            "matched, T s",
            f"replay OK: 3 orders, {order_events} order events agree with the orders, T s",
        ],
        [],
    )
    assert run_verify("--replay") == run_verify()


def test_warehouse_changed_behind_the_ledgers_back_is_reported(
    healthy_orders: list[Order],
) -> None:
    shipped = healthy_orders[1]
    Order.objects.filter(pk=shipped.pk).update(warehouse=Warehouse.objects.get(code="WH-BJ"))
    order_events = LedgerEvent.objects.filter(action__startswith="order.").count()
    code, out, err = run_verify()
    assert code == 1
    assert out[0].startswith("OK: ")  # the chain itself is intact
    assert err == [
        f'REPLAY order {shipped.pk} (shopify-main:R-2) field warehouse: ledger says "WH-SH", '
        'order has "WH-BJ"',
        f"replay: 1 disagreements in 1 orders (3 orders, {order_events} order events), T s",
    ]


def test_tracking_and_status_changed_behind_the_ledgers_back_are_reported(
    healthy_orders: list[Order],
) -> None:
    placed, _shipped, moved = healthy_orders
    Order.objects.filter(pk=moved.pk).update(tracking_number="FAKE-1", carrier="")
    Order.objects.filter(pk=placed.pk).update(status=Milestone.DELIVERED)
    code, _out, err = run_verify()
    assert code == 1
    assert err[:3] == [
        f'REPLAY order {placed.pk} (shopify-main:R-1) field status: ledger says "placed", '
        'order has "delivered"',
        f'REPLAY order {moved.pk} (shopify-main:R-3) field carrier: ledger says "ZTO", '
        'order has ""',
        f"REPLAY order {moved.pk} (shopify-main:R-3) field tracking_number: ledger says "
        '"ZT0002", order has "FAKE-1"',
    ]
    assert err[3].startswith("replay: 3 disagreements in 2 orders")


def test_event_inserted_behind_the_applications_back_is_reported(
    healthy_orders: list[Order],
) -> None:
    """A valid, chained append (the chain verifies) claiming a change the order never made."""
    placed = healthy_orders[0]
    ledger_append(
        action="order.transition", actor="intruder", order_id=placed.pk, subject_type="order",
        subject_id=placed.pk, source_system="wms", before={"status": "placed"},
        after={"status": "delivered"},
    )  # fmt: skip
    ledger_seal_and_checkpoint()
    code, out, err = run_verify()
    assert code == 1
    assert out[0].startswith("OK: ")
    assert err[0] == (
        f'REPLAY order {placed.pk} (shopify-main:R-1) field status: ledger says "delivered", '
        'order has "placed"'
    )
    assert len(err) == 2
    # Without the replay, only the chain is checked, and it is intact.
    assert run_verify("--no-replay")[0] == 0


@pytest.mark.django_db
def test_order_without_created_event_and_events_without_order_are_reported() -> None:
    ghost = Order.objects.create(channel="shopify-main", external_id="GHOST-1")
    ledger_append(
        action="order.updated", actor="x", order_id=ghost.pk + 1000, after={"carrier": "SF"}
    )
    ledger_seal_and_checkpoint()
    code, _out, err = run_verify()
    assert (code, err) == (
        1,
        [
            f"REPLAY order {ghost.pk} (shopify-main:GHOST-1): no order.created event",
            f"REPLAY order {ghost.pk + 1000}: the ledger has events of an order that does not "
            "exist",
            "replay: 2 disagreements in 2 orders (1 orders, 1 order events), T s",
        ],
    )


@pytest.mark.django_db
def test_replay_follows_chain_order_and_takes_unsealed_events_last() -> None:
    order = new_order("SEQ-1")
    ledger_seal_and_checkpoint()
    order_transition(order_id=order.pk, target=Milestone.PAID, source="shopify:main")
    code, out, err = run_verify()  # the transition is not sealed yet: it still counts
    assert code == 0
    assert out[1] == "replay OK: 1 orders, 2 order events agree with the orders, T s"
    assert err == ["warning: 1 events are not sealed yet"]
    # A superuser who deletes the unsealed event leaves an order the ledger cannot explain.
    tamper(
        "DELETE FROM traceability_ledgerevent WHERE order_id = %s AND action = %s",
        [order.pk, "order.transition"],
    )
    code, _out, err = run_verify()
    assert (code, err[0]) == (
        1,
        f'REPLAY order {order.pk} (shopify-main:SEQ-1) field status: ledger says "placed", '
        'order has "paid"',
    )


@pytest.mark.django_db
def test_order_created_before_the_initial_values_were_stated_is_compared_where_it_can() -> None:
    """Events of an earlier release: ``order.created`` had only the channel and external id."""
    order = Order.objects.create(
        channel="shopify-main", external_id="OLD-1", carrier="SF", tracking_number="SF1"
    )
    ledger_append(
        action="order.created", actor="shopify:main", order_id=order.pk, subject_type="order",
        subject_id=order.pk, after={"channel": "shopify-main", "external_id": "OLD-1"},
    )  # fmt: skip
    ledger_append(
        action="order.transition", actor="x", order_id=order.pk, after={"status": "placed"}
    )
    ledger_seal_and_checkpoint()
    code, out, err = run_verify()
    assert code == 0
    assert out[1] == "replay OK: 1 orders, 2 order events agree with the orders, T s"
    assert err == [
        "warning: 1 orders were created before order.created stated their initial values: "
        "the fields no later event states were not compared"
    ]
    Order.objects.filter(pk=order.pk).update(status=Milestone.PAID)
    assert run_verify()[2][1] == (
        f'REPLAY order {order.pk} (shopify-main:OLD-1) field status: ledger says "placed", '
        'order has "paid"'
    )


@pytest.mark.django_db
def test_demo_data_replays_clean() -> None:
    from orderhub.demo import demo_load

    demo_load(orders=40)
    assert Order.objects.exclude(warehouse=None).exists()
    ledger_seal_and_checkpoint()
    code, out, err = run_verify()
    assert (code, err) == (0, [])
    assert out[1].startswith("replay OK: 40 orders, ")
