"""Youzan push: URL-encoded msg → exact NormalizedOrder; Event-Sign checks."""

from __future__ import annotations

from datetime import datetime
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
from channels_app.adapters.youzan.mapping import YouzanAdapter
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "youzan"
ACCOUNT = AccountConfig(
    code="yz", kind="youzan", options={"client_id": "cid"}, secrets={"client_secret": "csecret"}
)
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=common.CHINA_TZ)


def sign(body: bytes) -> str:
    return common.md5_hex(b"cid" + body + b"csecret")


def request(body: bytes, signature: str) -> InboundRequest:
    headers = {"event-sign": signature, "event-type": "trade_TradeCreate"}
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signature_matches_the_reference_check_value() -> None:
    assert sign(b'{"a":1}') == "7e98fb7dec23abe7aa7e942e64b8a461"


def test_correct_signature_is_accepted() -> None:
    body = (FIXTURES / "trade_create.json").read_bytes()
    verified = YouzanAdapter().verify(ACCOUNT, request(body, sign(body)))
    assert (verified.delivery_id, verified.event_type, verified.process) == (
        "66a3c2b1-0001",
        "trade_TradeCreate",
        True,
    )
    assert verified.response.body == b'{"code":0,"msg":"success"}'


@pytest.mark.parametrize("where", ["body", "signature"])
def test_one_byte_changed_is_refused(where: str) -> None:
    body = (FIXTURES / "trade_create.json").read_bytes()
    signature = sign(body)
    if where == "body":
        body = body.replace(b'"sendCount":0', b'"sendCount":1')
    else:
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(VerificationError, match="does not match"):
        YouzanAdapter().verify(ACCOUNT, request(body, signature))


def test_trade_create_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "trade_create.json").read_bytes())
    created = datetime(2024, 5, 1, 12, 0, tzinfo=common.CHINA_TZ)
    assert YouzanAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="yz",
            external_id="E20240501120000012345678",
            buyer_name="小李",
            buyer_phone="13912345678",
            receiver_name="李雷",
            receiver_phone="13912345678",
            country="CN",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address="文三路90号",
            postal_code="310012",
            currency="CNY",
            goods_amount=Decimal("158.00"),
            shipping_amount=Decimal("8.00"),
            total_amount=Decimal("166.00"),
            buyer_note="工作日送货",
            placed_at=created,
            lines=(
                NormalizedLine(1, "TEA-LJ-250", 2, Decimal("59.00"), "西湖龙井250g"),
                NormalizedLine(2, "36002", 1, Decimal("40.00"), "茶具"),
            ),
            facts=(StatusFactIn("youzan:yz", "WAIT_BUYER_PAY", None, created),),
        )
    ]


def test_short_notice_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "trade_success_notice.json").read_bytes())
    assert YouzanAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="yz",
            external_id="E20240501120000012345678",
            facts=(
                StatusFactIn(
                    "youzan:yz",
                    "TRADE_SUCCESS",
                    None,
                    datetime(2024, 5, 4, 13, 20, tzinfo=common.CHINA_TZ),
                ),
            ),
        )
    ]


def test_msg_that_is_not_json_is_a_precise_error() -> None:
    payload = {"type": "trade_TradeCreate", "status": "WAIT_BUYER_PAY", "msg": "%7Boops"}
    with pytest.raises(NormalizeError, match="msg: not JSON"):
        YouzanAdapter().normalize(ACCOUNT, payload)
