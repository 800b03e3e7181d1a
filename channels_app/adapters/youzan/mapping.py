"""Youzan cloud (有赞云) trade push.

Signature: header ``Event-Sign`` = md5_hex(client_id + raw body + client_secret). The body
is JSON: ``client_id, id`` (the trade id ``E…``), ``kdt_id``, ``msg`` (URL-encoded UTF-8
JSON), ``msg_id`` (dedupe key), ``sendCount``, ``status`` (trade status at push time),
``test``, ``type``, ``version``. Reply ``{"code":0,"msg":"success"}``.

``msg`` is either the trade detail (``full_order_info`` with ``order_info``,
``buyer_info``, ``address_info``, ``pay_info``, ``orders``) or a short
``{tid, status, update_time}`` notice. Times are ``YYYY-MM-DD HH:MM:SS`` in China time.
One fact per trade message: the trade ``status``. Refund messages (``trade_refund_*``,
``msg`` = ``{oids, refunded_fee, refund_id, refund_reason, refund_reason_desc, refund_type,
tid, update_time}``) write no fact: each reports one return per ``refund_id`` whose status
is the message type's suffix (``BuyerCreated``, ``RefundSellerAgree``, ``RefundSuccess``,
``RefundClosed``...); ``trade_refund_YouzanInterApplied`` (买家申请客服介入) is also a complaint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    FEEDBACK_COMPLAINT,
    FEEDBACK_RETURN,
    AccountConfig,
    ChannelAdapter,
    FeedbackReport,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

SUCCESS = {"code": 0, "msg": "success"}
REFUND_PREFIX = "trade_refund_"
COMPLAINT_TYPES = frozenset({"trade_refund_YouzanInterApplied"})
OPENING_TYPES = frozenset({"trade_refund_BuyerCreated", "trade_refund_RefundSellerCreated"})


@adapters.register("youzan")
class YouzanAdapter(ChannelAdapter):
    kind = "youzan"
    label = str(_("Youzan"))
    options = (
        OptionSpec("client_id", "Youzan cloud client_id"),
        OptionSpec("client_secret", "Youzan cloud client_secret", secret=True),
        OptionSpec("kdt_id", "Shop id (kdt_id, checked when given)", required=False),
        # Write-back (channels_app.outbound.shop_writers).
        OptionSpec(
            "access_token", "Open API access token (write-back)", required=False, secret=True
        ),
        OptionSpec(
            "base_url", "Open API base URL (default https://open.youzanyun.com)", required=False
        ),
    )
    default_status_map = {
        "WAIT_BUYER_PAY": Milestone.PLACED,
        "TRADE_PAID": Milestone.PAID,
        "WAIT_CONFIRM": Milestone.PAID,
        "WAIT_SELLER_SEND_GOODS": Milestone.PAID,
        "WAIT_BUYER_CONFIRM_GOODS": Milestone.HANDED_OVER,
        "TRADE_SUCCESS": Milestone.DELIVERED,
        # 取消或全额退款: after shipment the lifecycle records it as a conflict to review.
        "TRADE_CLOSED": Milestone.CANCELLED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        client_id = common.option(account, "client_id")
        signature = common.header(request, "Event-Sign").lower()
        if not signature:
            raise VerificationError("missing Event-Sign header")
        expected = common.md5_hex(
            client_id.encode() + request.body + common.secret(account, "client_secret").encode()
        )
        if not common.same(expected, signature):
            raise VerificationError("Event-Sign does not match the body")
        body = common.peek_json(request.body)
        delivery_id = ""
        if isinstance(body, dict):
            kdt_id = account.options.get("kdt_id", "")
            if kdt_id and str(body.get("kdt_id", "")) != kdt_id:
                raise VerificationError("kdt_id is not this account's shop")
            msg_id = body.get("msg_id")
            if isinstance(msg_id, str | int) and len(str(msg_id)) <= 128:
                delivery_id = str(msg_id)
        return Verified(
            delivery_id=delivery_id,
            event_type=common.header(request, "Event-Type"),
            payload=request.body,
            response=common.json_response(200, SUCCESS),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        body, kind, msg = _envelope(payload)
        if kind.startswith(REFUND_PREFIX):
            # An unreadable refund message fails here, terminally, not in ``feedback``.
            reports = refund_reports(body, kind, msg)
            return [
                NormalizedOrder(
                    channel=account.code,
                    external_id=reports[0].external_order_id,
                    is_test=body.get("test") is True,
                )
            ]
        status = common.text(body.get("status") or msg.get("status"), "status", max_length=64)
        full = msg.get("full_order_info")
        if full is None:
            external_id = common.text(msg.get("tid") or body.get("id"), "msg.tid", max_length=128)
            when = common.china_time(msg.get("update_time"), "msg.update_time")
            return [
                NormalizedOrder(
                    channel=account.code,
                    external_id=external_id,
                    facts=(StatusFactIn(account.system, status, None, when),),
                    is_test=body.get("test") is True,
                )
            ]
        return [self._detail(account, body, status, common.mapping(full, "msg.full_order_info"))]

    def feedback_expected(self, event_type: str) -> bool:
        # The Event-Type header; a message imported without one is read to find out.
        return not event_type or event_type.startswith(REFUND_PREFIX)

    def feedback(
        self, account: AccountConfig, payload: Any, *, event_type: str
    ) -> Sequence[FeedbackReport]:
        body, kind, msg = _envelope(payload)
        return refund_reports(body, kind, msg) if kind.startswith(REFUND_PREFIX) else []

    def _detail(
        self,
        account: AccountConfig,
        body: Mapping[str, Any],
        status: str,
        full: Mapping[str, Any],
    ) -> NormalizedOrder:
        info = common.mapping(full.get("order_info"), "full_order_info.order_info")
        external_id = common.text(info.get("tid"), "order_info.tid", max_length=128)
        when = common.china_time(
            info.get("update_time") or info.get("created"), "order_info.update_time"
        )
        buyer = common.mapping(full.get("buyer_info") or {}, "full_order_info.buyer_info")
        address = common.mapping(full.get("address_info") or {}, "full_order_info.address_info")
        pay = common.mapping(full.get("pay_info") or {}, "full_order_info.pay_info")
        lines = []
        for index, raw in enumerate(common.sequence(full.get("orders"), "full_order_info.orders")):
            path = f"orders[{index}]"
            item = common.mapping(raw, path)
            sku = common.optional_text(
                item.get("outer_sku_id"), f"{path}.outer_sku_id", max_length=64
            )
            lines.append(
                NormalizedLine(
                    line_no=index + 1,
                    sku=sku or common.text(item.get("sku_id"), f"{path}.sku_id"),
                    quantity=common.quantity(item.get("num"), f"{path}.num"),
                    unit_price=common.money(item.get("price"), f"{path}.price"),
                    title=common.optional_text(item.get("title"), f"{path}.title") or "",
                )
            )
        paid_at = info.get("pay_time")
        return NormalizedOrder(
            channel=account.code,
            external_id=external_id,
            buyer_name=common.optional_text(buyer.get("fans_nickname"), "buyer_info.fans_nickname"),
            buyer_phone=common.optional_text(
                buyer.get("buyer_phone"), "buyer_info.buyer_phone", max_length=32
            ),
            receiver_name=common.optional_text(
                address.get("receiver_name"), "address_info.receiver_name"
            ),
            receiver_phone=common.optional_text(
                address.get("receiver_tel"), "address_info.receiver_tel", max_length=32
            ),
            country="CN",
            province=common.optional_text(
                address.get("delivery_province"), "address_info.delivery_province"
            ),
            city=common.optional_text(address.get("delivery_city"), "address_info.delivery_city"),
            district=common.optional_text(
                address.get("delivery_district"), "address_info.delivery_district"
            ),
            address=common.optional_text(
                address.get("delivery_address"), "address_info.delivery_address"
            ),
            postal_code=common.optional_text(
                address.get("delivery_postal_code"), "address_info.delivery_postal_code"
            ),
            currency="CNY",
            goods_amount=common.optional_money(pay.get("total_fee"), "pay_info.total_fee"),
            shipping_amount=common.optional_money(pay.get("post_fee"), "pay_info.post_fee"),
            total_amount=common.optional_money(pay.get("payment"), "pay_info.payment"),
            buyer_note=common.optional_text(
                common.mapping(full.get("remark_info") or {}, "remark_info").get("buyer_message"),
                "remark_info.buyer_message",
                max_length=2000,
            ),
            placed_at=common.china_time(info["created"], "order_info.created")
            if info.get("created")
            else None,
            paid_at=common.china_time(paid_at, "order_info.pay_time") if paid_at else None,
            lines=tuple(lines),
            facts=(StatusFactIn(account.system, status, None, when),),
            is_test=body.get("test") is True,
        )


def _envelope(payload: Any) -> tuple[Mapping[str, Any], str, Mapping[str, Any]]:
    """(body, type, decoded msg) of a push."""
    body = common.mapping(payload, "body")
    kind = common.text(body.get("type"), "type", max_length=64)
    raw_msg = body.get("msg")
    if not isinstance(raw_msg, str):
        raise NormalizeError("msg: expected a URL-encoded JSON string")
    return body, kind, common.mapping(common.loads_nested(unquote(raw_msg), "msg"), "msg")


def refund_reports(
    body: Mapping[str, Any], kind: str, msg: Mapping[str, Any]
) -> list[FeedbackReport]:
    """The return (and for a customer-service intervention the complaint) of one refund
    message; ``NormalizeError`` when it names no refund or order."""
    order_id = common.text(msg.get("tid") or body.get("id"), "msg.tid", max_length=128)
    refund_id = common.text(msg.get("refund_id"), "msg.refund_id", max_length=64)
    when = common.china_time(msg.get("update_time"), "msg.update_time")
    status = kind.removeprefix(REFUND_PREFIX)
    reason = common.optional_text(
        msg.get("refund_reason_desc") or msg.get("refund_reason"), "msg.refund_reason_desc"
    )
    detail = {
        name: msg[name]
        for name in ("refund_type", "refund_reason", "refunded_fee", "oids")
        if name in msg
    }
    detail["type"] = kind
    kinds = [FEEDBACK_RETURN] + ([FEEDBACK_COMPLAINT] if kind in COMPLAINT_TYPES else [])
    opening = kind in OPENING_TYPES
    return [
        FeedbackReport(
            external_order_id=order_id,
            kind=feedback_kind,
            external_id=refund_id,
            status=status,
            status_at=when,
            opened_at=when if opening or feedback_kind == FEEDBACK_COMPLAINT else None,
            reason=reason or "",
            detail=detail,
        )
        for feedback_kind in kinds
    ]
