"""Douyin shop push: both message shapes → exact NormalizedOrders; event-sign checks."""

from __future__ import annotations

from datetime import UTC, datetime
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
from channels_app.adapters.douyin.mapping import DouyinAdapter
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "douyin"
ACCOUNT = AccountConfig(
    code="dy", kind="douyin", options={"app_key": "123"}, secrets={"app_secret": "sec"}
)
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def sign(body: bytes) -> str:
    return common.md5_hex(b"123" + body + b"sec")


def request(body: bytes, signature: str) -> InboundRequest:
    headers = {"app-id": "123", "event-sign": signature}
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signature_matches_the_reference_check_value() -> None:
    assert sign(b'[{"tag":"100"}]') == "9fba46bfb81c12c9a6d8206fbd18e213"


def test_correct_signature_is_accepted_case_insensitively() -> None:
    body = (FIXTURES / "trade_paid.json").read_bytes()
    verified = DouyinAdapter().verify(ACCOUNT, request(body, sign(body).upper()))
    assert verified.delivery_id == "7231866118458214712:101:1714540800"
    assert verified.event_type == "tag:101"
    assert verified.process is True
    assert verified.response.body == b'{"code":0,"msg":"success"}'


@pytest.mark.parametrize("where", ["body", "signature"])
def test_one_byte_changed_is_refused(where: str) -> None:
    body = (FIXTURES / "trade_paid.json").read_bytes()
    signature = sign(body)
    if where == "body":
        body = body.replace(b"25900", b"25901")
    else:
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    with pytest.raises(VerificationError, match="does not match"):
        DouyinAdapter().verify(ACCOUNT, request(body, signature))


def test_verification_push_is_answered_and_not_processed() -> None:
    body = b'[{"tag":"0","msg_id":"","data":"{}"}]'
    verified = DouyinAdapter().verify(ACCOUNT, request(body, sign(body)))
    assert verified.process is False
    assert verified.response.status == 200


def test_paid_message_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "trade_paid.json").read_bytes())
    paid = datetime(2024, 5, 1, 5, 20, tzinfo=UTC)
    assert DouyinAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="dy",
            external_id="6919187546112712345",
            currency="CNY",
            total_amount=Decimal("259.00"),
            order_type="normal",
            paid_at=paid,
            facts=(StatusFactIn("douyin:dy", "tag:101", None, paid),),
        )
    ]


def test_sdk_shape_with_object_data_and_int_tag_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "trade_ship_sdk_shape.json").read_bytes())
    shipped = datetime(2024, 5, 2, 5, 20, tzinfo=UTC)
    assert DouyinAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="dy",
            external_id="6919187546112712345",
            receiver_name="王*",
            receiver_phone="138****5678",
            country="CN",
            province="广东省",
            city="深圳市",
            district="南山区",
            address="科技园南区深南大道9988号",
            order_type="normal",
            carrier="shunfeng",
            tracking_number="SF1402387468723",
            facts=(StatusFactIn("douyin:dy", "tag:102", None, shipped),),
        )
    ]


def test_times_are_shown_in_china_time() -> None:
    payload = payload_parse((FIXTURES / "trade_paid.json").read_bytes())
    [order] = DouyinAdapter().normalize(ACCOUNT, payload)
    assert order.facts[0].occurred_at.isoformat() == "2024-05-01T13:20:00+08:00"


def test_malformed_data_is_a_precise_error() -> None:
    with pytest.raises(NormalizeError, match=r"body\[0\].data: not JSON"):
        DouyinAdapter().normalize(ACCOUNT, [{"tag": "101", "msg_id": "x", "data": "{oops"}])
    with pytest.raises(NormalizeError, match=r"body\[0\].data.pay_amount"):
        DouyinAdapter().normalize(
            ACCOUNT,
            [{"tag": 101, "data": {"p_id": 1, "pay_time": 1714540800, "pay_amount": "1.5"}}],
        )
