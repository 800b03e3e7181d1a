from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.models import Order
from orderhub.services import order_upsert
from tests.factories import OrderFactory, WarehouseFactory


def _order(channel: str, external_id: str, raw: str, milestone: str) -> Order:
    at = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    return order_upsert(
        normalized=NormalizedOrder(
            channel=channel,
            external_id=external_id,
            total_amount=Decimal("19.90"),
            lines=(
                NormalizedLine(line_no=1, sku="SKU-1", quantity=1, unit_price=Decimal("19.90")),
            ),
            facts=(StatusFactIn(f"shopify:{channel}", raw, milestone, at),),
        ),
        source="test",
    )


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    django_user_model.objects.create_superuser("api", "api@example.com", "pw")
    call_command("drf_create_token", "api", verbosity=0)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user__username='api').key}")
    return client


@pytest.mark.django_db
def test_anonymous_requests_are_refused() -> None:
    assert APIClient().get("/api/v1/orders/").status_code == 401


@pytest.mark.django_db
def test_list_filters_by_channel_external_id_and_status(api: APIClient) -> None:
    a = _order("shop-a", "A1", "financial_status:paid", Milestone.PAID)
    _order("shop-a", "A2", "financial_status:pending", Milestone.PLACED)
    b = _order("shop-b", "B1", "financial_status:paid", Milestone.PAID)

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/v1/orders/{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("?channel=shop-a&status=paid") == [a.pk]
    assert ids("?external_id=B1") == [b.pk]
    assert ids("?status=paid") == [b.pk, a.pk]
    assert ids("?channel=none") == []
    assert api.get("/api/v1/orders/?status=bogus").status_code == 400


@pytest.mark.django_db
def test_detail_has_lines_and_facts(api: APIClient) -> None:
    order = _order("shop-a", "A1", "financial_status:paid", Milestone.PAID)
    data = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert (data["channel"], data["external_id"], data["status"]) == ("shop-a", "A1", "paid")
    assert data["total_amount"] == "19.90"
    assert data["lines"] == [
        {"line_no": 1, "sku": "SKU-1", "title": "", "quantity": 1, "unit_price": "19.90",
         "amount": "19.90"}
    ]  # fmt: skip
    assert [
        (f["system"], f["raw_status"], f["milestone"], f["outcome"]) for f in data["facts"]
    ] == [("shopify:shop-a", "financial_status:paid", "paid", "advanced")]


@pytest.mark.django_db
def test_warehouse_staff_see_only_their_orders(django_user_model: Any) -> None:
    warehouse = WarehouseFactory.create()
    mine = OrderFactory.create(warehouse=warehouse)
    OrderFactory.create()
    user = django_user_model.objects.create_user("wh", password="pw")
    warehouse.staff.add(user)
    client = APIClient()
    client.force_authenticate(user)
    rows = client.get("/api/v1/orders/").json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]


@pytest.mark.django_db
def test_schema_is_served(api: APIClient) -> None:
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/orders/{id}/" in response.content
