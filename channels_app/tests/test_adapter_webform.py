"""webform: OrderHub's own signed order format → exact NormalizedOrder; signature and window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    InboundRequest,
    NormalizeError,
    VerificationError,
)
from channels_app.adapters.webform.mapping import WebformAdapter, sign
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "webform"
ACCOUNT = AccountConfig(code="site", kind="webform", secrets={"hmac_secret": "k3y"})
NOW = datetime(2024, 5, 1, 4, 5, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))


def request(body: bytes, signature: str, stamp: str = STAMP) -> InboundRequest:
    headers = {
        "x-orderhub-signature": signature,
        "x-orderhub-timestamp": stamp,
        "x-orderhub-delivery": "dlv-1",
    }
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    # Check value: HMAC-SHA256(key "k3y", "1714536300.{}") in hex.
    assert sign("k3y", "1714536300", b"{}") == (
        "sha256=987c321fa7ab737f4537c8f96eddbbb8f0456ee9054c3194a0901e7cd45227c2"
    )


def test_correct_signature_is_accepted() -> None:
    body = (FIXTURES / "order_paid.json").read_bytes()
    verified = WebformAdapter().verify(ACCOUNT, request(body, sign("k3y", STAMP, body)))
    assert (verified.delivery_id, verified.process, verified.response.status) == (
        "dlv-1",
        True,
        200,
    )


@pytest.mark.parametrize("where", ["body", "signature"])
def test_one_byte_changed_is_refused(where: str) -> None:
    body = (FIXTURES / "order_paid.json").read_bytes()
    signature = sign("k3y", STAMP, body)
    if where == "body":
        body = body.replace(b'"248.00"', b'"148.00"')
    else:
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(VerificationError, match="does not match") as raised:
        WebformAdapter().verify(ACCOUNT, request(body, signature))
    assert raised.value.response.status == 401


@pytest.mark.parametrize("skew", [301, -301])
def test_stale_or_future_timestamp_is_refused(skew: int) -> None:
    body = (FIXTURES / "order_paid.json").read_bytes()
    stamp = str(int((NOW + timedelta(seconds=skew)).timestamp()))
    with pytest.raises(VerificationError, match="window"):
        WebformAdapter().verify(ACCOUNT, request(body, sign("k3y", stamp, body), stamp))


def test_order_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "order_paid.json").read_bytes())
    paid = datetime(2024, 5, 1, 12, 3, tzinfo=common.CHINA_TZ)
    assert WebformAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="site",
            external_id="W20240501-0007",
            buyer_name="赵敏",
            buyer_phone="13700001234",
            buyer_email="zhao@example.cn",
            receiver_name="赵敏",
            receiver_phone="13700001234",
            country="CN",
            province="四川省",
            city="成都市",
            district="武侯区",
            address="人民南路四段1号",
            postal_code="610041",
            currency="CNY",
            goods_amount=Decimal("256.00"),
            shipping_amount=Decimal("12.00"),
            discount_amount=Decimal("20.00"),
            tax_amount=Decimal("0.00"),
            total_amount=Decimal("248.00"),
            order_type="custom",
            buyer_note="杯子印名字 小敏",
            placed_at=datetime(2024, 5, 1, 12, 0, tzinfo=common.CHINA_TZ),
            paid_at=paid,
            lines=(
                NormalizedLine(1, "MUG-CUSTOM", 2, Decimal("88.00"), "定制马克杯"),
                NormalizedLine(2, "CARD-01", 1, Decimal("80.00"), "贺卡"),
            ),
            facts=(StatusFactIn("webform:site", "paid", None, paid),),
        )
    ]


def test_wrong_types_are_precise_errors() -> None:
    with pytest.raises(NormalizeError, match=r"lines\[0\].qty"):
        WebformAdapter().normalize(
            ACCOUNT,
            {
                "external_id": "W1",
                "status": "paid",
                "status_time": "2024-05-01T12:00:00+08:00",
                "lines": [{"sku": "A", "qty": "two", "unit_price": "1.00"}],
            },
        )
    with pytest.raises(NormalizeError, match="order_type"):
        WebformAdapter().normalize(
            ACCOUNT,
            {
                "external_id": "W1",
                "status": "paid",
                "status_time": "2024-05-01T12:00:00+08:00",
                "order_type": "weird",
            },
        )
