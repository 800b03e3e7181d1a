"""Shopify: recorded order webhooks → exact NormalizedOrder; HMAC accepted / refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError
from channels_app.adapters.shopify.mapping import ShopifyAdapter
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
ACCOUNT = AccountConfig(code="shop-us", kind="shopify", secrets={"webhook_secret": "hush"})
NOW = datetime(2024, 3, 9, 13, 0, tzinfo=UTC)
EST = timezone(timedelta(hours=-5))
SYSTEM = "shopify:shop-us"


def request(body: bytes, signature: str) -> InboundRequest:
    headers = {
        "x-shopify-hmac-sha256": signature,
        "x-shopify-topic": "orders/updated",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signature_matches_the_reference_check_value() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    assert common.hmac_sha256_b64("hush", body) == "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8="


def test_correct_signature_is_accepted() -> None:
    body = (FIXTURES / "orders_fulfilled.json").read_bytes()
    verified = ShopifyAdapter().verify(ACCOUNT, request(body, common.hmac_sha256_b64("hush", body)))
    assert verified.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert verified.event_type == "orders/updated"
    assert verified.payload == body
    assert verified.process is True
    assert verified.response.status == 200


@pytest.mark.parametrize("where", ["body", "signature"])
def test_one_byte_changed_is_refused(where: str) -> None:
    body = (FIXTURES / "orders_fulfilled.json").read_bytes()
    signature = common.hmac_sha256_b64("hush", body)
    if where == "body":
        body = body.replace(b'"199.00"', b'"198.00"', 1)
    else:
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(VerificationError, match="does not match"):
        ShopifyAdapter().verify(ACCOUNT, request(body, signature))


def test_missing_signature_is_refused() -> None:
    with pytest.raises(VerificationError, match="missing"):
        ShopifyAdapter().verify(ACCOUNT, request(b"{}", ""))


def test_fulfilled_order_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "orders_fulfilled.json").read_bytes())
    updated = datetime(2024, 3, 9, 8, 0, tzinfo=EST)
    shipped = datetime(2024, 3, 9, 7, 59, tzinfo=EST)
    assert ShopifyAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="shop-us",
            external_id="450789469",
            buyer_name="Bob Norman",
            buyer_phone="+16135551111",
            buyer_email="bob.norman@mail.example.com",
            receiver_name="Bob Norman",
            receiver_phone="+1(502)-459-2181",
            country="US",
            province="Kentucky",
            city="Louisville",
            address="Chestnut Street 92, Apt 4",
            postal_code="40202",
            currency="USD",
            goods_amount=Decimal("597.00"),
            shipping_amount=Decimal("30.00"),
            discount_amount=Decimal("10.00"),
            tax_amount=Decimal("0.00"),
            total_amount=Decimal("617.00"),
            carrier="UPS",
            tracking_number="1Z2345",
            buyer_note="Please gift wrap",
            placed_at=datetime(2024, 3, 8, 10, 15, 4, tzinfo=EST),
            lines=(
                NormalizedLine(1, "IPOD2008GREEN", 1, Decimal("199.00"), "IPod Nano - 8gb - green"),
                NormalizedLine(2, "IPOD2008RED", 2, Decimal("199.00"), "IPod Nano - 8gb - red"),
            ),
            facts=(
                StatusFactIn(SYSTEM, "financial_status:paid", None, updated),
                StatusFactIn(SYSTEM, "fulfillment_status:fulfilled", None, updated),
                StatusFactIn(SYSTEM, "fulfillment:success", None, shipped),
                StatusFactIn(SYSTEM, "shipment_status:in_transit", None, shipped),
            ),
            is_test=False,
        )
    ]


def test_cancelled_test_order_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "orders_cancelled_test.json").read_bytes())
    cst = timezone(timedelta(hours=8))
    [order] = ShopifyAdapter().normalize(ACCOUNT, payload)
    assert order.external_id == "820982911946154508"
    assert order.is_test is True
    assert order.lines == (
        NormalizedLine(1, "808950810", 1, Decimal("393.00"), "Aviator sunglasses"),
    )
    assert order.shipping_amount is None
    assert order.facts == (
        StatusFactIn(SYSTEM, "financial_status:voided", None, datetime(2024, 4, 1, 13, tzinfo=cst)),
        StatusFactIn(SYSTEM, "cancelled", None, datetime(2024, 4, 1, 13, tzinfo=cst)),
    )


def test_delete_body_yields_nothing() -> None:
    assert ShopifyAdapter().normalize(ACCOUNT, {"id": 450789469}) == []


def test_default_map_covers_the_cross_channel_milestones() -> None:
    status_map = ShopifyAdapter.default_status_map
    assert status_map["financial_status:paid"] == "paid"
    assert status_map["cancelled"] == "cancelled"
    assert status_map["shipment_status:delivered"] == "delivered"
    assert "financial_status:refunded" not in status_map
