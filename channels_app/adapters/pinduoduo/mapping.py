"""Pinduoduo open platform, pulled (its message push is a WebSocket, not a webhook).

The poller stores one inbox message per order version, ``{"order_info": {...}}`` with the
fields of ``pdd.order.information.get`` (the increment list returns the same fields). Times
are ``yyyy-MM-dd HH:mm:ss`` China time, money in yuan strings. Facts: the payment
(``order_status:1`` at the deal time, when ``confirm_status`` is 1), the current shipping
state (``order_status:2|3``), a cancel (``confirm_status:2``) and a refund
(``refund_status:4``).

``after_sales_status`` (0 无售后; 2-13 refunds and returns, 14-18 exchanges and resends,
21-27 repairs, 31-32 refusals and resends) is the order's after-sale: one return per order
whose status moves on with each version polled, and a complaint while the platform handles
it (8 平台处理中) (``feedback``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

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

DEFAULT_BASE_URL = "https://gw-api.pinduoduo.com/api/router"
AFTER_SALES_LABELS = {
    2: "买家申请退款 待商家处理",
    3: "退货退款 待商家处理",
    4: "商家同意退款 退款中",
    5: "平台同意退款 退款中",
    6: "驳回退款 待买家处理",
    7: "已同意退货退款 待用户发货",
    8: "平台处理中",
    9: "平台拒绝退款 退款关闭",
    10: "退款成功",
    11: "买家撤销",
    12: "买家逾期未处理 退款失败",
    13: "买家逾期 超过有效期",
}
PLATFORM_HANDLING = "8"


def sign(params: Mapping[str, Any], client_secret: str) -> str:
    """upper(md5(secret + k1v1k2v2... + secret)), keys sorted, ``sign`` and empty values out."""
    plain = "".join(
        f"{key}{params[key]}"
        for key in sorted(params)
        if key != "sign" and params[key] is not None and str(params[key]) != ""
    )
    text = f"{client_secret}{plain}{client_secret}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def current_raw_status(info: Mapping[str, Any]) -> str:
    """The raw status the order is in now (the last fact ``order_normalize`` writes)."""
    if str(info.get("confirm_status")) == "2":
        return "confirm_status:2"
    if str(info.get("refund_status")) == "4":
        return "refund_status:4"
    return f"order_status:{info.get('order_status')}"


@adapters.register("pinduoduo")
class PinduoduoAdapter(ChannelAdapter):
    kind = "pinduoduo"
    label = str(_("Pinduoduo (pulled)"))
    options = (
        OptionSpec("client_id", "Client id"),
        OptionSpec("client_secret", "Client secret", secret=True),
        OptionSpec("access_token", "Merchant access token", secret=True),
        OptionSpec("base_url", f"API gateway (default {DEFAULT_BASE_URL})", required=False),
        OptionSpec("page_size", "Orders per page, up to 100 (default 100)", required=False),
        OptionSpec(
            "lookback_hours", "First poll starts this far back (default 24)", required=False
        ),
        OptionSpec(
            "logistics_ids", "Carrier → PDD logistics id, e.g. shunfeng=44,zto=115", required=False
        ),
    )
    default_status_map = {
        "order_status:1": Milestone.PAID,
        "order_status:2": Milestone.HANDED_OVER,
        "order_status:3": Milestone.DELIVERED,
        "confirm_status:2": Milestone.CANCELLED,
        "refund_status:4": Milestone.RETURNED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        raise VerificationError("pinduoduo accounts are pulled; there is no webhook")

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        body = common.mapping(payload, "body")
        info = common.mapping(body.get("order_info"), "order_info")
        after_sale_reports(info)  # an unreadable after-sale fails here, not in ``feedback``
        return [order_normalize(account, info)]

    def feedback_expected(self, event_type: str) -> bool:
        return True  # every polled order version carries its after-sale status

    def feedback(
        self, account: AccountConfig, payload: Any, *, event_type: str
    ) -> Sequence[FeedbackReport]:
        body = common.mapping(payload, "body")
        return after_sale_reports(common.mapping(body.get("order_info"), "order_info"))


def _time(info: Mapping[str, Any], name: str) -> Any:
    value = info.get(name)
    return common.china_time(value, f"order_info.{name}") if value else None


def order_normalize(account: AccountConfig, info: Mapping[str, Any]) -> NormalizedOrder:
    path = "order_info"
    external_id = common.text(info.get("order_sn"), f"{path}.order_sn", max_length=64)
    updated = common.china_time(info.get("updated_at"), f"{path}.updated_at")
    facts = []
    deal_time = _time(info, "confirm_time") or _time(info, "pay_time")
    if str(info.get("confirm_status")) == "1" and deal_time:
        facts.append(StatusFactIn(account.system, "order_status:1", None, deal_time))
    status = str(info.get("order_status"))
    if status == "2":
        facts.append(
            StatusFactIn(
                account.system, "order_status:2", None, _time(info, "shipping_time") or updated
            )
        )
    elif status == "3":
        facts.append(
            StatusFactIn(
                account.system, "order_status:3", None, _time(info, "receive_time") or updated
            )
        )
    if str(info.get("confirm_status")) == "2":
        facts.append(StatusFactIn(account.system, "confirm_status:2", None, updated))
    if str(info.get("refund_status")) == "4":
        facts.append(StatusFactIn(account.system, "refund_status:4", None, updated))
    lines = []
    for index, raw in enumerate(info.get("item_list") or []):
        item = common.mapping(raw, f"{path}.item_list[{index}]")
        sku = item.get("outer_id") or item.get("sku_id") or item.get("goods_id")
        lines.append(
            NormalizedLine(
                line_no=index + 1,
                sku=common.text(sku, f"{path}.item_list[{index}].outer_id", max_length=64),
                quantity=common.quantity(
                    item.get("goods_count"), f"{path}.item_list[{index}].goods_count"
                ),
                unit_price=common.money(
                    item.get("goods_price", "0"), f"{path}.item_list[{index}].goods_price"
                ),
                title=str(item.get("goods_name") or "")[:255],
            )
        )
    return NormalizedOrder(
        channel=account.code,
        external_id=external_id,
        receiver_name=common.optional_text(
            info.get("receiver_name_mask") or info.get("receiver_name"), f"{path}.receiver_name"
        ),
        receiver_phone=common.optional_text(
            info.get("receiver_phone_mask"), f"{path}.receiver_phone_mask", max_length=32
        ),
        country="CN",
        province=common.optional_text(info.get("province"), f"{path}.province", max_length=64),
        city=common.optional_text(info.get("city"), f"{path}.city", max_length=64),
        district=common.optional_text(info.get("town"), f"{path}.town", max_length=64),
        address=common.optional_text(
            info.get("address_mask") or info.get("address"), f"{path}.address"
        ),
        currency="CNY",
        goods_amount=common.optional_money(info.get("goods_amount"), f"{path}.goods_amount"),
        discount_amount=common.optional_money(
            info.get("discount_amount"), f"{path}.discount_amount"
        ),
        shipping_amount=common.optional_money(info.get("postage"), f"{path}.postage"),
        total_amount=common.optional_money(info.get("pay_amount"), f"{path}.pay_amount"),
        tracking_number=common.optional_text(
            info.get("tracking_number"), f"{path}.tracking_number", max_length=64
        ),
        placed_at=_time(info, "created_time"),
        paid_at=_time(info, "pay_time"),
        ship_by=_time(info, "last_ship_time"),
        lines=tuple(lines) or None,
        facts=tuple(facts),
    )


def after_sale_reports(info: Mapping[str, Any]) -> list[FeedbackReport]:
    """The order's after-sale as a return (and a complaint while the platform handles it);
    none when ``after_sales_status`` is 0 or absent. The order info names no after-sale id:
    the order number is the return's id, the status at the version's ``updated_at``."""
    value = info.get("after_sales_status")
    if value in (None, "", 0, "0"):
        return []
    status = common.text(value, "order_info.after_sales_status", max_length=8)
    if not status.isdigit():
        raise NormalizeError(f"order_info.after_sales_status: expected a number, got {status!r}")
    order_sn = common.text(info.get("order_sn"), "order_info.order_sn", max_length=64)
    updated = common.china_time(info.get("updated_at"), "order_info.updated_at")
    detail: dict[str, Any] = {"after_sales_status": status}
    if int(status) in AFTER_SALES_LABELS:
        detail["after_sales_status_label"] = AFTER_SALES_LABELS[int(status)]
    if info.get("refund_status") not in (None, ""):
        detail["refund_status"] = str(info.get("refund_status"))
    kinds = [FEEDBACK_RETURN] + ([FEEDBACK_COMPLAINT] if status == PLATFORM_HANDLING else [])
    return [
        FeedbackReport(
            external_order_id=order_sn,
            kind=kind,
            external_id=order_sn,
            status=status,
            status_at=updated,
            opened_at=updated if kind == FEEDBACK_COMPLAINT else None,
            detail=detail,
        )
        for kind in kinds
    ]
