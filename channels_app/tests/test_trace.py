"""An order's trace shows the raw messages that described it, attributed to their account."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from channels_app.models import ChannelAccount
from channels_app.services import inbox_process_pending
from channels_app.tests.conftest import hook_headers, order_body
from channels_app.tests.test_processing import LINES
from orderhub.models import Order
from traceability.selectors import trace_sources


def post(client: Client, body: bytes, delivery: str) -> None:
    headers = hook_headers(body, delivery)
    response = client.post(
        "/hooks/test-shop/", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_trace_lists_each_raw_inbound_message_of_the_order(
    client: Client, admin_client: Client, account: ChannelAccount
) -> None:
    first = order_body(
        {"id": "T-1", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00", "lines": LINES}
    )
    second = order_body({"id": "T-1", "status": "PAID", "at": "2026-05-01T10:05:00+08:00"})
    other = order_body({"id": "T-2", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})
    post(client, first, "d-1")
    post(client, second, "d-2")
    post(client, other, "d-3")
    assert inbox_process_pending(limit=10) == 3
    order = Order.objects.get(channel="test-shop", external_id="T-1")

    with translation.override("en"):
        entries = trace_sources.get("channels.inbound")(order)

    assert [entry.raw for entry in entries] == [first.decode(), second.decode()]
    assert {entry.source_system for entry in entries} == {"test_hmac:test-shop"}
    assert [dict(entry.details)["delivery id"] for entry in entries] == ["d-1", "d-2"]
    page = admin_client.get(
        reverse("traceability:trace_detail", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "d-2" in page
    assert "d-3" not in page
