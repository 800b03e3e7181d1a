"""WooCommerce: recorded order webhook → exact NormalizedOrder; HMAC and activation ping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError
from channels_app.adapters.woocommerce.mapping import WooCommerceAdapter
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
ACCOUNT = AccountConfig(code="woo", kind="woocommerce", secrets={"webhook_secret": "secret"})
NOW = datetime(2017, 3, 22, 19, 30, tzinfo=UTC)


def request(body: bytes, signature: str | None) -> InboundRequest:
    headers = {"x-wc-webhook-topic": "order.updated", "x-wc-webhook-delivery-id": "d41d8cd98f"}
    if signature is not None:
        headers["x-wc-webhook-signature"] = signature
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signature_matches_the_reference_check_value() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    assert common.hmac_sha256_b64("secret", body) == "3dLmiPGz5zwSVeJBcpROBNcLNuRt3Ed+t+Iq4wxT5BY="


def test_correct_signature_is_accepted() -> None:
    body = (FIXTURES / "order_updated.json").read_bytes()
    verified = WooCommerceAdapter().verify(
        ACCOUNT, request(body, common.hmac_sha256_b64("secret", body))
    )
    assert (verified.delivery_id, verified.event_type, verified.process) == (
        "d41d8cd98f",
        "order.updated",
        True,
    )


@pytest.mark.parametrize("where", ["body", "signature"])
def test_one_byte_changed_is_refused(where: str) -> None:
    body = (FIXTURES / "order_updated.json").read_bytes()
    signature = common.hmac_sha256_b64("secret", body)
    if where == "body":
        body = body.replace(b'"29.35"', b'"29.36"')
    else:
        signature = signature[:-2] + ("A" if signature[-2] != "A" else "B") + "="
    with pytest.raises(VerificationError, match="does not match"):
        WooCommerceAdapter().verify(ACCOUNT, request(body, signature))


def test_activation_ping_is_answered_and_not_processed() -> None:
    verified = WooCommerceAdapter().verify(ACCOUNT, request(b"webhook_id=42", None))
    assert verified.process is False
    assert verified.response.status == 200
    assert verified.event_type == "ping"


def test_unsigned_json_is_refused() -> None:
    with pytest.raises(VerificationError, match="missing"):
        WooCommerceAdapter().verify(ACCOUNT, request(b'{"id":1}', None))


def test_order_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "order_updated.json").read_bytes())
    assert WooCommerceAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="woo",
            external_id="727",
            buyer_name="John Doe",
            buyer_phone="(555) 555-5555",
            buyer_email="john.doe@example.com",
            receiver_name="John Doe",
            country="US",
            province="CA",
            city="San Francisco",
            address="969 Market",
            postal_code="94103",
            currency="USD",
            goods_amount=Decimal("18.00"),
            shipping_amount=Decimal("10.00"),
            discount_amount=Decimal("0.00"),
            tax_amount=Decimal("1.35"),
            total_amount=Decimal("29.35"),
            placed_at=datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC),
            paid_at=datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC),
            lines=(
                NormalizedLine(1, "93", 2, Decimal("3.00"), "Woo Single #1"),
                NormalizedLine(
                    2,
                    "SYI-BLK-M",
                    1,
                    Decimal("12.00"),
                    "Ship Your Idea &ndash; Color: Black, Size: M Test",
                ),
            ),
            facts=(
                StatusFactIn(
                    "woocommerce:woo",
                    "processing",
                    None,
                    datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC),
                ),
            ),
        )
    ]


def test_deleted_body_yields_nothing() -> None:
    assert WooCommerceAdapter().normalize(ACCOUNT, {"id": 727}) == []
