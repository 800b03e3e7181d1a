"""Milestone times are the source's clock, kept beside ours; insane times and values too long
for their column are refused through the real intake with a reason naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.adapters import common
from channels_app.models import ChannelAccount, InboundMessage
from channels_app.services import channel_account_create, inbox_process_pending
from channels_app.tests.conftest import HmacTestAdapter
from channels_app.tests.test_processing import created, store
from orderhub.models import Order, StatusFact
from traceability.models import LedgerEvent

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def shopify() -> ChannelAccount:
    return channel_account_create(
        kind="shopify",
        code="shop-us",
        options={"writeback": "off"},
        secrets={"webhook_secret": "hush"},
    )


@pytest.fixture
def youzan() -> ChannelAccount:
    return channel_account_create(
        kind="youzan",
        code="yz-shop",
        options={"client_id": "cid", "writeback": "off"},
        secrets={"client_secret": "csecret"},
    )


def shopify_post(client: Client, body: bytes, delivery: str = "d-1") -> None:
    headers = {
        "x-shopify-hmac-sha256": common.hmac_sha256_b64("hush", body),
        "x-shopify-topic": "orders/updated",
        "x-shopify-webhook-id": delivery,
    }
    response = client.post(
        "/hooks/shop-us/", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200


def shopify_body(name: str, **changes: Any) -> bytes:
    order = json.loads((FIXTURES / "shopify" / name).read_text())
    order.update(changes)
    return json.dumps(order).encode()


def api_detail(admin_user: Any, order: Order) -> dict[str, Any]:
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.get(f"/api/v1/orders/{order.pk}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_shopify_example_order_is_placed_at_its_own_created_time(
    client: Client, admin_user: Any, shopify: ChannelAccount
) -> None:
    shopify_post(client, shopify_body("orders_create_example.json"))
    before = timezone.now()
    assert inbox_process_pending() == 1
    after = timezone.now()
    order = Order.objects.get()
    data = api_detail(admin_user, order)
    assert data["placed_at"] == "2008-01-10T16:00:00Z"
    # Paid by the fact of the same body: Shopify's updated_at, not our clock.
    assert data["paid_at"] == "2008-01-10T16:00:00Z"
    assert data["status"] == "paid"
    assert before <= order.placed_received_at <= after
    assert (
        order.paid_received_at
        == StatusFact.objects.get(raw_status="financial_status:paid").received_at
    )
    assert data["placed_received_at"] == order.placed_received_at.astimezone(
        UTC
    ).isoformat().replace("+00:00", "Z")
    assert (data["shipped_at"], data["shipped_received_at"]) == (None, None)
    assert (data["delivered_at"], data["delivered_received_at"]) == (None, None)
    assert (data["warehouse"], data["carrier"], data["tracking_number"]) == (None, "", "")


@pytest.mark.django_db
def test_youzan_paid_at_is_the_source_time_and_received_at_ours(
    client: Client, admin_user: Any, youzan: ChannelAccount
) -> None:
    msg = {"tid": "E20261126230100000001", "status": "WAIT_SELLER_SEND_GOODS",
           "update_time": "2026-11-26 23:01:00"}  # fmt: skip
    body = json.dumps(
        {
            "client_id": "cid",
            "id": msg["tid"],
            "kdt_id": 40000001,
            "msg_id": "yz-1",
            "status": "WAIT_SELLER_SEND_GOODS",
            "test": False,
            "type": "trade_TradeBuyerPay",
            "msg": quote(json.dumps(msg)),
        }
    ).encode()
    headers = {"event-sign": common.md5_hex(b"cid" + body + b"csecret"), "event-type": "trade"}
    response = client.post(
        "/hooks/yz-shop/", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    before = timezone.now()
    assert inbox_process_pending() == 1
    after = timezone.now()

    order = Order.objects.get()
    fact = StatusFact.objects.get()
    assert order.status == "paid"
    assert order.paid_at == datetime(2026, 11, 26, 15, 1, tzinfo=UTC)  # 23:01 in China
    assert order.paid_received_at == fact.received_at
    assert before <= order.paid_received_at <= after
    data = api_detail(admin_user, order)
    assert data["paid_at"] == "2026-11-26T15:01:00Z"
    assert data["paid_received_at"] == fact.received_at.astimezone(UTC).isoformat().replace(
        "+00:00", "Z"
    )


@pytest.mark.django_db
def test_year_9999_delivery_is_refused_naming_the_field_and_nothing_is_stored(
    client: Client, shopify: ChannelAccount
) -> None:
    order = json.loads((FIXTURES / "shopify" / "orders_fulfilled.json").read_text())
    order["fulfillments"][0]["updated_at"] = "9999-12-31T23:59:59-14:00"
    order["fulfillments"][0]["shipment_status"] = "delivered"
    shopify_post(client, json.dumps(order).encode())
    assert inbox_process_pending() == 1

    message = InboundMessage.objects.get()
    assert message.status == "failed_terminal"
    assert message.reason == (
        "facts[2].occurred_at 9999-12-31T23:59:59-14:00 is more than 86400 seconds ahead of now"
        " (fact 'fulfillment:success')"
    )
    assert (Order.objects.count(), StatusFact.objects.count()) == (0, 0)
    assert Order.history.count() == 0
    assert list(
        LedgerEvent.objects.filter(action="inbox.failed").values_list("after", flat=True)
    ) == [{"reason": message.reason, "attempts": 1}]


@pytest.mark.django_db
def test_a_city_too_long_is_refused_with_its_length(
    client: Client, shopify: ChannelAccount
) -> None:
    order = json.loads((FIXTURES / "shopify" / "orders_fulfilled.json").read_text())
    order["shipping_address"]["city"] = "C" * 80
    shopify_post(client, json.dumps(order).encode())
    assert inbox_process_pending() == 1
    message = InboundMessage.objects.get()
    assert (message.status, message.reason) == (
        "failed_terminal",
        "city is 80 characters, at most 64",
    )
    assert (Order.objects.count(), StatusFact.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_a_time_before_the_window_is_refused(client: Client, shopify: ChannelAccount) -> None:
    shopify_post(
        client, shopify_body("orders_create_example.json", created_at="1999-12-31T23:59:59Z")
    )
    assert inbox_process_pending() == 1
    message = InboundMessage.objects.get()
    assert (message.status, message.reason) == (
        "failed_terminal",
        "placed_at 1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z",
    )
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_an_adapter_overflowing_a_time_fails_the_message_terminal(
    account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(self: object, config: object, payload: object) -> list[object]:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(HmacTestAdapter, "normalize", overflow)
    store(account, created("O1"))
    assert inbox_process_pending() == 1
    message = InboundMessage.objects.get()
    assert (message.status, message.reason) == (
        "failed_terminal",
        "cannot normalize: OverflowError: date value out of range",
    )
    assert Order.objects.count() == 0
