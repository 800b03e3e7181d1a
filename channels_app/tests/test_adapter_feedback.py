"""Returns, complaints and reviews read from each platform's own payload (pure, no database).

Payloads in the published shapes: Douyin after-sale messages (``aftersale_id``,
``aftersale_status``, the tag's own time field; arbitration ``arbitrate_id``), Youzan
``trade_refund_*`` pushes (URL-encoded ``msg``), Shopify's REST Refund and Dispute resources,
Pinduoduo's polled ``order_info`` with ``after_sales_status``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from channels_app.adapters.base import AccountConfig, FeedbackReport, NormalizeError, adapters
from channels_app.adapters.common import CHINA_TZ
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedOrder

DOUYIN = AccountConfig("dy", "douyin", {"app_key": "1"}, {"app_secret": "s"})
YOUZAN = AccountConfig("yz", "youzan", {"client_id": "c"}, {"client_secret": "s"})
SHOPIFY = AccountConfig("sh", "shopify", {}, {"webhook_secret": "s"})
PDD = AccountConfig("pdd", "pinduoduo", {"client_id": "c"}, {"client_secret": "s"})


def parsed(value: Any) -> Any:
    """As processing parses a stored body (money as Decimal)."""
    return payload_parse(json.dumps(value, ensure_ascii=False).encode(), max_bytes=10**6)


def douyin_push(tag: int, data: dict[str, Any]) -> Any:
    message = {"tag": str(tag), "msg_id": f"m{tag}", "data": json.dumps(data)}
    return parsed([message])


def read(account: AccountConfig, payload: Any, event_type: str) -> list[FeedbackReport]:
    return list(adapters.get(account.kind)().feedback(account, payload, event_type=event_type))


def normalized(account: AccountConfig, payload: Any) -> list[Any]:
    return list(adapters.get(account.kind)().normalize(account, payload))


AFTERSALE = {
    "aftersale_id": 7000893114000949000,
    "aftersale_status": 6,
    "aftersale_type": 0,
    "apply_time": 1630022518,
    "p_id": 4835804142146757000,
    "reason_code": 1,
    "refund_amount": 8900,
    "refund_post_amount": 0,
    "refund_voucher_num": 0,
    "s_id": 4835804142146757001,
    "shop_id": 10437917,
}


def test_douyin_after_sale_request_is_one_return_and_writes_no_status_fact() -> None:
    payload = douyin_push(200, AFTERSALE)
    assert read(DOUYIN, payload, "tag:200") == [
        FeedbackReport(
            external_order_id="4835804142146757000",
            kind="return",
            external_id="7000893114000949000",
            status="6",
            status_at=datetime(2021, 8, 27, 0, 1, 58, tzinfo=UTC),
            opened_at=datetime(2021, 8, 27, 0, 1, 58, tzinfo=UTC),
            detail={
                "tag": "200",
                "aftersale_status": "6",
                "aftersale_status_label": "售后申请",
                "aftersale_type": 0,
                "reason_code": 1,
                "refund_amount": 8900,
                "refund_post_amount": 0,
                "s_id": 4835804142146757001,
            },
        )
    ]
    # The message links to its order and says nothing else about it: no tag:200 fact.
    assert normalized(DOUYIN, payload) == [
        NormalizedOrder(channel="dy", external_id="4835804142146757000")
    ]


def test_douyin_refund_success_moves_the_same_return_on_at_its_own_time() -> None:
    data = {**AFTERSALE, "aftersale_status": 12, "success_time": 1630109000,
            "update_time": "2021-08-28T08:05:00+08:00"}  # fmt: skip
    del data["apply_time"]
    [report] = read(DOUYIN, douyin_push(206, data), "tag:206")
    assert (report.kind, report.external_id, report.status) == ("return", AFTERSALE_ID, "12")
    assert report.status_at == datetime.fromtimestamp(1630109000, UTC)
    assert report.opened_at is None
    # Without its own time field the message's update_time (ISO text) is the status time.
    del data["success_time"]
    [report] = read(DOUYIN, douyin_push(203, data), "tag:203")
    assert report.status_at == datetime(2021, 8, 28, 0, 5, tzinfo=UTC)


AFTERSALE_ID = "7000893114000949000"


def test_douyin_arbitration_is_a_complaint_keyed_by_its_arbitration_id() -> None:
    data = {"aftersale_id": 7000893114000949000, "aftersale_status": 27, "aftersale_type": 0,
            "arbitrate_id": "ARB-1", "arbitrate_status": 1, "p_id": 4835804142146757000,
            "s_id": 4835804142146757001, "shop_id": 10437917}  # fmt: skip
    [report] = read(DOUYIN, douyin_push(212, data), "tag:212")
    assert report == FeedbackReport(
        external_order_id="4835804142146757000",
        kind="complaint",
        external_id="ARB-1",
        status="1",
        detail={"tag": "212", "aftersale_status": "27", "aftersale_status_label": "拒绝售后申请",
                "aftersale_type": 0, "s_id": 4835804142146757001,
                "aftersale_id": AFTERSALE_ID, "arbitrate_status": "1"},
    )  # fmt: skip
    assert normalized(DOUYIN, douyin_push(212, data))[0].facts == ()


def test_douyin_order_messages_report_no_feedback() -> None:
    payload = douyin_push(101, {"p_id": 1, "pay_time": 1630022518, "pay_amount": 100})
    assert read(DOUYIN, payload, "tag:101") == []
    assert [fact.raw_status for fact in normalized(DOUYIN, payload)[0].facts] == ["tag:101"]
    douyin = adapters.get("douyin")()
    assert not douyin.feedback_expected("tag:101,102")
    assert douyin.feedback_expected("tag:101,206")
    assert douyin.feedback_expected("")


def test_an_after_sale_message_without_its_status_fails_normalization() -> None:
    data = {key: value for key, value in AFTERSALE.items() if key != "aftersale_status"}
    with pytest.raises(NormalizeError, match=r"body\[0\]\.data\.after_sale_status"):
        normalized(DOUYIN, douyin_push(200, data))


def youzan_push(kind: str, msg: dict[str, Any]) -> Any:
    body = {"client_id": "c", "id": "E20250101000000000001", "kdt_id": 40000001,
            "msg_id": f"id-{kind}", "status": "WAIT_BUYER_CONFIRM_GOODS", "test": False,
            "type": kind, "version": 1,
            "msg": quote(json.dumps(msg, ensure_ascii=False, separators=(",", ":")))}  # fmt: skip
    return parsed(body)


REFUND_MSG = {"oids": "1001", "refunded_fee": 19.9, "refund_id": "201801011200000001",
              "refund_reason": "11", "refund_reason_desc": "商品质量问题",
              "refund_type": "REFUND_AND_RETURN", "tid": "E20250101000000000001",
              "update_time": "2025-01-02 10:00:00"}  # fmt: skip


def test_youzan_refund_push_is_one_return_and_writes_no_status_fact() -> None:
    payload = youzan_push("trade_refund_BuyerCreated", REFUND_MSG)
    at = datetime(2025, 1, 2, 10, tzinfo=CHINA_TZ)
    assert read(YOUZAN, payload, "trade_refund_BuyerCreated") == [
        FeedbackReport(
            external_order_id="E20250101000000000001",
            kind="return",
            external_id="201801011200000001",
            status="BuyerCreated",
            status_at=at,
            opened_at=at,
            reason="商品质量问题",
            detail={
                "refund_type": "REFUND_AND_RETURN",
                "refund_reason": "11",
                "refunded_fee": Decimal("19.9"),
                "oids": "1001",
                "type": "trade_refund_BuyerCreated",
            },
        )
    ]
    [order] = normalized(YOUZAN, payload)
    assert (order.external_id, order.facts) == ("E20250101000000000001", ())


def test_youzan_customer_service_intervention_is_also_a_complaint() -> None:
    payload = youzan_push("trade_refund_YouzanInterApplied", REFUND_MSG)
    reports = read(YOUZAN, payload, "trade_refund_YouzanInterApplied")
    assert [(r.kind, r.external_id, r.status) for r in reports] == [
        ("return", "201801011200000001", "YouzanInterApplied"),
        ("complaint", "201801011200000001", "YouzanInterApplied"),
    ]
    trade = youzan_push("trade_TradeSuccess", {"tid": "E1", "update_time": "2025-01-02 10:00:00"})
    assert read(YOUZAN, trade, "trade_TradeSuccess") == []
    assert not adapters.get("youzan")().feedback_expected("trade_TradeSuccess")


REFUND = {"id": 509562969, "order_id": 450789469, "created_at": "2024-04-01T10:00:00-04:00",
          "note": "Damaged in transit", "processed_at": "2024-04-01T10:05:00-04:00",
          "restock": True, "user_id": 548380009,
          "refund_line_items": [{"id": 104689539, "quantity": 1, "line_item_id": 703073504}],
          "transactions": [{"id": 245135, "order_id": 450789469, "kind": "refund",
                            "status": "success", "amount": "41.94", "currency": "USD"}],
          "order_adjustments": []}  # fmt: skip
DISPUTE = {"id": 1052608616, "order_id": 450789469, "type": "chargeback", "amount": "11.50",
           "currency": "USD", "reason": "fraudulent", "network_reason_code": "4837",
           "status": "needs_response", "evidence_due_by": "2024-04-20", "evidence_sent_on": None,
           "finalized_on": None, "initiated_at": "2024-04-05T12:00:00-04:00"}  # fmt: skip


def test_shopify_refund_is_a_return_and_no_order_snapshot() -> None:
    assert read(SHOPIFY, parsed(REFUND), "refunds/create") == [
        FeedbackReport(
            external_order_id="450789469",
            kind="return",
            external_id="509562969",
            status="refunded",
            status_at=datetime(2024, 4, 1, 14, 5, tzinfo=UTC),
            opened_at=datetime(2024, 4, 1, 14, 0, tzinfo=UTC),
            reason="Damaged in transit",
            detail={"lines": 1, "amount": "41.94", "restock": True},
        )
    ]
    assert normalized(SHOPIFY, parsed(REFUND)) == []


def test_shopify_dispute_is_a_complaint_whose_status_moves_on() -> None:
    [report] = read(SHOPIFY, parsed(DISPUTE), "disputes/create")
    assert report == FeedbackReport(
        external_order_id="450789469",
        kind="complaint",
        external_id="1052608616",
        status="needs_response",
        opened_at=datetime(2024, 4, 5, 16, tzinfo=UTC),
        reason="fraudulent",
        detail={"type": "chargeback", "amount": "11.50", "currency": "USD",
                "network_reason_code": "4837", "evidence_due_by": "2024-04-20"},
    )  # fmt: skip
    [won] = read(SHOPIFY, parsed({**DISPUTE, "status": "won"}), "disputes/update")
    assert (won.external_id, won.status) == ("1052608616", "won")
    assert normalized(SHOPIFY, parsed(DISPUTE)) == []
    shopify = adapters.get("shopify")()
    assert not shopify.feedback_expected("orders/updated")
    assert shopify.feedback_expected("disputes/update")


def pdd_info(**fields: Any) -> Any:
    info = {"order_sn": "250101-123456789012345", "order_status": 2, "refund_status": 2,
            "confirm_status": 1, "after_sales_status": 3, "updated_at": "2025-01-03 09:30:00",
            "confirm_time": "2025-01-01 10:00:00", "shipping_time": "2025-01-01 18:00:00",
            "province": "浙江省", "item_list": []}  # fmt: skip
    return parsed({"order_info": {**info, **fields}})


def test_pinduoduo_after_sales_status_is_the_orders_return() -> None:
    assert read(PDD, pdd_info(), "order") == [
        FeedbackReport(
            external_order_id="250101-123456789012345",
            kind="return",
            external_id="250101-123456789012345",
            status="3",
            status_at=datetime(2025, 1, 3, 9, 30, tzinfo=CHINA_TZ),
            detail={
                "after_sales_status": "3",
                "after_sales_status_label": "退货退款 待商家处理",
                "refund_status": "2",
            },
        )
    ]
    in_hand = read(PDD, pdd_info(after_sales_status=8), "order")
    assert [(r.kind, r.status) for r in in_hand] == [("return", "8"), ("complaint", "8")]
    assert read(PDD, pdd_info(after_sales_status=0, refund_status=1), "order") == []
    with pytest.raises(NormalizeError, match="after_sales_status"):
        normalized(PDD, pdd_info(after_sales_status="x"))
