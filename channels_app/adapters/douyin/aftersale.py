"""Douyin shop after-sale messages (tags 200-299): returns/refunds and customer-service
arbitration, read into ``FeedbackReport`` (pure).

Every after-sale message carries ``aftersale_id``, ``aftersale_status`` (6 售后申请, 7 售后退货中,
11 售后已发货, 12 售后成功, 27 拒绝售后申请, 28 售后失败, 29 退货后拒绝退款, ...) and
``aftersale_type`` (0 退货退款, 1 已发货仅退款, 2 未发货仅退款, 3 换货, ...) beside ``p_id``: one
return per ``aftersale_id``, its status moving on with each message (200 RefundCreated ·
201 RefundAgreed · 202 RefundReturnApplyAgreed · 203 RefundBuyerReturnGoods · 204
RefundRefused · 205 RefundReturnApplyRefused · 206 RefundSuccess · 207 RefundClosed · 208
RefundModified). The arbitration messages (212 买家发起客服仲裁, 214 商家上传仲裁凭证,
215 买家取消仲裁, 216 客服仲裁结果, 217 仲裁客服介入) also carry ``arbitrate_id`` and
``arbitrate_status``: one complaint per ``arbitrate_id``. They carry no time of their own.

The messages carry no order fields and no order status, so they write no status fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels_app.adapters import common
from channels_app.adapters.base import (
    FEEDBACK_COMPLAINT,
    FEEDBACK_RETURN,
    FeedbackReport,
    NormalizeError,
)

AFTERSALE_TAGS = range(200, 300)
# The field each tag states its own time in (the 24 h update_time is the fallback).
STATUS_TIME_FIELDS = {
    "200": "apply_time",
    "201": "agree_time",
    "202": "agree_time",
    "204": "refuse_time",
    "205": "refuse_time",
    "206": "success_time",
    "207": "close_time",
    "208": "modify_time",
}
AFTERSALE_STATUS_LABELS = {
    0: "售后初始化",
    6: "售后申请",
    7: "售后退货中",
    8: "售后待商家发货",
    11: "售后已发货",
    12: "售后成功",
    13: "售后商家已发货 待用户收货",
    14: "售后用户已收货",
    27: "拒绝售后申请",
    28: "售后失败",
    29: "退货后拒绝退款",
    51: "订单取消成功",
    53: "逆向交易已完成",
}
DETAIL_FIELDS = (
    "aftersale_type",
    "reason_code",
    "refund_amount",
    "refund_post_amount",
    "arbitrate_conclusion",
    "s_id",
)


def is_aftersale(tag: str) -> bool:
    return tag.isdigit() and int(tag) in AFTERSALE_TAGS


def _time(value: Any, path: str) -> datetime | None:
    """Unix seconds, or the ISO text some messages use for ``update_time``; 0/"" = absent."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        return common.iso_time(value, path, naive_tz=common.CHINA_TZ)
    return common.epoch_time(value, path)


def _status(data: Mapping[str, Any], name: str, path: str) -> str:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise NormalizeError(f"{path}.{name}: expected a status code, got {value!r}")
    return str(value).strip()


def aftersale_reports(tag: str, data: Mapping[str, Any], path: str) -> list[FeedbackReport]:
    """The return one after-sale message reports, or for an arbitration message the complaint.
    Raises ``NormalizeError`` on a message that names no after-sale or order."""
    order_id = common.text(data.get("p_id"), f"{path}.p_id", max_length=128)
    if data.get("aftersale_id") in (None, "", 0):
        return []  # e.g. a timeout change about no after-sale in particular
    aftersale_id = common.text(data.get("aftersale_id"), f"{path}.aftersale_id", max_length=64)
    field = STATUS_TIME_FIELDS.get(tag)
    own = _time(data.get(field), f"{path}.{field}") if field else None
    status_at = own or _time(data.get("update_time"), f"{path}.update_time")
    # One published example spells it ``after_sale_status``.
    status = _status(
        data, "aftersale_status" if "aftersale_status" in data else "after_sale_status", path
    )
    detail: dict[str, Any] = {"tag": tag, "aftersale_status": status}
    label = AFTERSALE_STATUS_LABELS.get(int(status)) if status.isdigit() else None
    if label:
        detail["aftersale_status_label"] = label
    detail.update({name: data[name] for name in DETAIL_FIELDS if name in data})
    if data.get("arbitrate_id") in (None, "", 0):
        return [
            FeedbackReport(
                external_order_id=order_id,
                kind=FEEDBACK_RETURN,
                external_id=aftersale_id,
                status=status,
                status_at=status_at,
                opened_at=own if tag == "200" else None,
                detail=detail,
            )
        ]
    # An arbitration message is about the arbitration: it carries no time, so the return's
    # own (timed) messages alone move the return on.
    arbitrate_id = common.text(data.get("arbitrate_id"), f"{path}.arbitrate_id", max_length=64)
    arbitrate_status = _status(data, "arbitrate_status", path)
    return [
        FeedbackReport(
            external_order_id=order_id,
            kind=FEEDBACK_COMPLAINT,
            external_id=arbitrate_id,
            status=arbitrate_status,
            status_at=status_at,
            detail={**detail, "aftersale_id": aftersale_id, "arbitrate_status": arbitrate_status},
        )
    ]
