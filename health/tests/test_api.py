"""``GET /api/v1/anomalies/`` and the anomalies and tracking events of the order detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from health.models import Anomaly
from orderhub.models import Order, Warehouse
from tests.factories import OrderFactory, WarehouseFactory

AT = timezone.now().replace(microsecond=0)


def api(user: User) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def anomaly(order: Order, kind: str, *, resolved: bool = False) -> Anomaly:
    return Anomaly.objects.create(
        kind=kind, order=order, subject_key=f"order:{order.pk}", opened_at=AT,
        evidence_at=AT - timedelta(minutes=1), evidence={"facts": [1]},
        resolved_at=AT + timedelta(minutes=2) if resolved else None,
        resolution="auto" if resolved else "",
    )  # fmt: skip


@pytest.fixture
def orders() -> tuple[Order, Order]:
    sh, bj = WarehouseFactory.create(code="WH-SH"), WarehouseFactory.create(code="WH-BJ")
    return (
        OrderFactory.create(channel="shop-1", external_id="A1", warehouse=sh),
        OrderFactory.create(channel="shop-2", external_id="B1", warehouse=bj),
    )


@pytest.mark.django_db
def test_anomalies_are_listed_with_filters(orders: tuple[Order, Order]) -> None:
    first, second = orders
    conflict = anomaly(first, "status_conflict")
    lag = anomaly(first, "sync_lag", resolved=True)
    ghost = anomaly(second, "ghost_shipment")
    client = api(User.objects.create_superuser("root"))

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/anomalies/{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [ghost.pk, lag.pk, conflict.pk]
    assert ids("?open=true") == [ghost.pk, conflict.pk]
    assert ids("?open=false") == [lag.pk]
    assert ids("?channel=shop-1&external_id=A1") == [lag.pk, conflict.pk]
    assert ids(f"?order={second.pk}") == [ghost.pk]
    assert ids("?kind=sync_lag") == [lag.pk]
    row = client.get("/api/v1/anomalies/?kind=sync_lag").json()["results"][0]
    assert row == {
        "id": lag.pk, "order": first.pk, "channel": "shop-1", "external_id": "A1",
        "kind": "sync_lag", "subject_key": f"order:{first.pk}",
        "opened_at": AT.isoformat().replace("+00:00", "Z"),
        "evidence_at": (AT - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "deadline": None,
        "resolved_at": (AT + timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
        "resolution": "auto", "resolved_note": "", "evidence": {"facts": [1]}, "actions": [],
        "resolved_by_action": "", "escalate_at": None,
    }  # fmt: skip
    assert client.get("/api/v1/anomalies/?open=maybe").status_code == 400
    assert client.get("/api/v1/anomalies/?kind=nope").status_code == 400
    # What PostgreSQL cannot compare, or Python cannot count, is a 400 naming the field.
    for query, field in (
        ("external_id=%00_", "external_id"),
        ("channel=a%00", "channel"),
        ("order=%C2%B2", "order"),  # a superscript two: a digit to Python, not an id
        ("order=99999999999999999999", "order"),
    ):
        answer = client.get(f"/api/v1/anomalies/?{query}")
        assert (answer.status_code, list(answer.json())) == (400, [field]), query


@pytest.mark.django_db
def test_anomalies_are_scoped_to_the_callers_warehouses(orders: tuple[Order, Order]) -> None:
    first, second = orders
    anomaly(first, "status_conflict")
    anomaly(second, "ghost_shipment")
    keeper = User.objects.create_user("sh-keeper")
    keeper.user_permissions.add(Permission.objects.get(codename="view_order"))
    Warehouse.objects.get(code="WH-SH").staff.add(keeper)
    response = api(keeper).get("/api/v1/anomalies/")
    assert [row["order"] for row in response.json()["results"]] == [first.pk]
    assert api(User.objects.create_user("nobody")).get("/api/v1/anomalies/").json()["results"] == []
    assert APIClient().get("/api/v1/anomalies/").status_code in (401, 403)


@pytest.mark.django_db
def test_the_order_detail_includes_anomalies_with_a_fixed_query_count(
    orders: tuple[Order, Order],
) -> None:
    first, _second = orders
    client = api(User.objects.create_superuser("root"))
    anomaly(first, "status_conflict")
    with CaptureQueriesContext(connection) as one:
        response = client.get(f"/api/v1/orders/{first.pk}/")
    assert [row["kind"] for row in response.json()["anomalies"]] == ["status_conflict"]
    assert response.json()["tracking_events"] == []
    anomaly(first, "sync_lag", resolved=True)
    anomaly(first, "ghost_shipment")
    with CaptureQueriesContext(connection) as three:
        response = client.get(f"/api/v1/orders/{first.pk}/")
    assert len(response.json()["anomalies"]) == 3
    assert len(three) == len(one)
