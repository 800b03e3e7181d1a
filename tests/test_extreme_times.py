"""A stored time at the end of Python's calendar never makes a page answer 500.

9999-12-31 23:59:59+00 loads from PostgreSQL, but shown in Asia/Shanghai it overflows
Python's datetime (orderhub.display_time keeps such times as stored).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from orderhub.choices import Milestone
from orderhub.models import Order, StatusFact
from tests.factories import OrderFactory

# The last second Python can hold; PostgreSQL stores it as 9999-12-31 23:59:59+00.
EXTREME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.django_db
def test_pages_answer_200_with_a_stored_year_9999_time(
    admin_client: Client, admin_user: Any
) -> None:
    order = OrderFactory.create()
    StatusFact.objects.create(
        order=order, system="courier:SF", raw_status="SIGNED", milestone=Milestone.DELIVERED,
        occurred_at="2026-05-01T00:00:00Z", dedupe_key="k1",
    )  # fmt: skip
    StatusFact.objects.filter(order=order).update(occurred_at=EXTREME, received_at=EXTREME)
    Order.objects.filter(pk=order.pk).update(
        delivered_at=EXTREME, delivered_received_at=EXTREME, status_changed_at=EXTREME
    )
    api = APIClient()
    api.force_authenticate(admin_user)
    detail = api.get(f"/api/v1/orders/{order.pk}/")
    assert detail.status_code == 200
    assert detail.json()["delivered_at"] == "9999-12-31T23:59:59Z"
    assert detail.json()["facts"][0]["occurred_at"] == "9999-12-31T23:59:59Z"
    assert api.get("/api/v1/orders/").status_code == 200
    assert admin_client.get(reverse("admin:orderhub_order_changelist")).status_code == 200

    Order.objects.filter(pk=order.pk).update(placed_at=EXTREME)
    assert api.get(f"/api/v1/orders/{order.pk}/").json()["placed_at"] == "9999-12-31T23:59:59Z"
    trace = admin_client.get(reverse("traceability:trace_detail", args=[order.pk]))
    assert trace.status_code == 200
    assert "9999-12-31" in trace.content.decode()
    pdf = admin_client.get(reverse("traceability:trace_pdf", args=[order.pk]))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    change = admin_client.get(reverse("admin:orderhub_order_change", args=[order.pk]))
    assert change.status_code == 200
    assert Order.objects.get().delivered_at.year == 9999
