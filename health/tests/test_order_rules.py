"""duplicate_shipment, stock_shortage and sla_at_risk end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from health.models import Anomaly, OrderCheck
from health.services import anomalies_sweep
from health.tests.conftest import Flow, ago
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order, StatusFact, StockShortage
from orderhub.services import order_upsert
from orderhub.services.stock import stock_reserve_for_order

LINES = [{"sku": "SKU-1", "qty": 3, "price": "10.00"}]


@pytest.mark.django_db
def test_two_warehouses_working_on_one_order_is_a_duplicate_shipment(flow: Flow) -> None:
    flow.channel("D1", "PAID", ago(30))
    flow.wms("D1", "PICKING", ago(20), wms="wms-sh")
    assert Anomaly.objects.count() == 0
    flow.wms("D1", "PICKING", ago(10), wms="wms-bj")
    anomaly = Anomaly.objects.get()
    sh = StatusFact.objects.get(system="wms:wms-sh")
    bj = StatusFact.objects.get(system="wms:wms-bj")
    assert (anomaly.kind, anomaly.evidence_at) == ("duplicate_shipment", bj.occurred_at)
    assert anomaly.evidence["warehouse_systems"] == ["wms:wms-bj", "wms:wms-sh"]
    assert [fact["fact_id"] for fact in anomaly.evidence["facts"]] == [bj.pk, sh.pk]
    assert anomaly.evidence["tracking_numbers"] == []
    # The second warehouse stands down: the gap is closed.
    flow.wms("D1", "CANCELLED", ago(5), wms="wms-bj")
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_one_warehouse_opens_no_duplicate_shipment(flow: Flow) -> None:
    flow.channel("D2", "PAID", ago(30))
    flow.wms("D2", "PICKING", ago(20))
    flow.wms("D2", "PACKED", ago(10))
    assert Anomaly.objects.count() == 0


@pytest.mark.django_db
def test_a_stock_shortage_opens_and_the_reservation_resolves_it(flow: Flow) -> None:
    flow.stock("SKU-1", 1)
    flow.channel("K1", "PAID", ago(0), lines=LINES)
    order = Order.objects.get(external_id="K1")
    check = OrderCheck.objects.get(order=order).next_check_at
    assert Anomaly.objects.count() == 0
    # The reservation runs after the paid fact's commit (a task): here, by its service.
    assert stock_reserve_for_order(order_id=order.pk) == "short"
    shortage = StockShortage.objects.get(order=order)
    assert anomalies_sweep(now=check) == 1
    anomaly = Anomaly.objects.get()
    assert (anomaly.kind, anomaly.evidence_at) == ("stock_shortage", shortage.opened_at)
    assert anomaly.evidence == {"shortages": [{"sku": "SKU-1", "warehouse": "WH-SH", "missing": 2}]}
    flow.stock("SKU-1", 5)
    assert stock_reserve_for_order(order_id=order.pk) == "reserved"
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"
    assert Order.objects.get(pk=order.pk).status == "stock_locked"


@pytest.mark.django_db
def test_enough_stock_opens_no_shortage(flow: Flow) -> None:
    flow.stock("SKU-1", 10)
    flow.channel("K2", "PAID", ago(0), lines=LINES)
    order = Order.objects.get(external_id="K2")
    assert stock_reserve_for_order(order_id=order.pk) == "reserved"
    assert anomalies_sweep(now=timezone.now() + timedelta(hours=1)) == 0
    assert Anomaly.objects.count() == 0


def order_with_ship_by(external_id: str, ship_by_in: timedelta) -> Order:
    now = timezone.now()
    return order_upsert(
        normalized=NormalizedOrder(
            channel="shop-a",
            external_id=external_id,
            ship_by=now + ship_by_in,
            facts=(StatusFactIn("erp:k3", "APPROVED", "stock_locked", now - timedelta(hours=1)),),
        ),
        source="test",
    )


@pytest.mark.django_db
def test_sla_at_risk_opens_four_hours_before_ship_by_and_the_handover_resolves_it(
    flow: Flow,
) -> None:
    order = order_with_ship_by("SLA1", timedelta(hours=10))
    assert order.ship_by is not None
    at_risk = order.ship_by - timedelta(hours=4)
    assert OrderCheck.objects.get(order=order).next_check_at == at_risk
    assert anomalies_sweep(now=at_risk) == 1
    anomaly = Anomaly.objects.get()
    assert (anomaly.kind, anomaly.evidence_at, anomaly.deadline) == (
        "sla_at_risk", at_risk, order.ship_by,
    )  # fmt: skip
    assert anomaly.evidence["order_status"] == "stock_locked"
    order_upsert(
        normalized=NormalizedOrder(
            channel="shop-a",
            external_id="SLA1",
            facts=(StatusFactIn("shopify:shop-a", "fulfilled", "handed_over", timezone.now()),),
        ),
        source="test",
    )
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"


@pytest.mark.django_db
def test_a_far_ship_by_opens_nothing(flow: Flow) -> None:
    order_with_ship_by("SLA2", timedelta(days=3))
    assert anomalies_sweep(now=timezone.now() + timedelta(hours=1)) == 0
    assert Anomaly.objects.count() == 0
