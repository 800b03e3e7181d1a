"""After-sale traffic in each platform's wire format: what happens to an order after the sale.

``feedback_story(order, rng)`` picks one story for a paid order of a kind that reports
after-sales by push (Douyin after-sale messages, Youzan ``trade_refund_*``, Shopify
``refunds/create`` and ``disputes/*``) and returns its messages in the order the platform
sends them, each with the report it stands for. Pinduoduo's after-sale status is served by
``sandbox_api`` on the polled orders instead. WooCommerce, WeChat Pay, DingTalk and the web
form push no after-sale.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels_app.sandbox.encoders import (
    Payload,
    china,
    dumps,
    event_uuid,
    fen,
    money,
    unix,
    youzan_push,
)
from channels_app.sandbox.generator import SandboxOrder

FEEDBACK_KINDS = ("douyin", "youzan", "shopify")
# event_uuid platform tags of the after-sale deliveries (the order steps use 1-7).
YOUZAN_REFUND, SHOPIFY_FEEDBACK = 12, 13


@dataclass(frozen=True, slots=True)
class FeedbackMessage:
    """One after-sale delivery and what it says: the Feedback (kind, platform id) it moves
    to ``status``."""

    payload: Payload
    kind: str  # return | complaint
    external_id: str
    status: str


def eligible(order: SandboxOrder) -> bool:
    return order.kind in FEEDBACK_KINDS and "paid" in order.steps and "cancelled" not in order.steps


SPACING = timedelta(minutes=7)  # between two messages of one story
LONGEST = 5


def feedback_story(order: SandboxOrder, rng: random.Random, now: datetime) -> list[FeedbackMessage]:
    """The after-sale messages of ``order`` (empty when its kind reports none). The story
    starts a little after the order's last step, but ends by ``now`` (the board shows what
    has happened, not what will)."""
    if not eligible(order):
        return []
    start = min(
        order.step_times[-1] + timedelta(minutes=rng.randint(5, 30)), now - SPACING * LONGEST
    )
    return STORIES[order.kind](order, rng, start)


# --- Douyin: tags 200-217, one after-sale id, one arbitration id --------------------------
# (tag, aftersale_status, time field) of each story.
DOUYIN_STORIES: tuple[tuple[tuple[int, int, str], ...], ...] = (
    ((200, 6, "apply_time"), (201, 6, "agree_time"), (206, 12, "success_time")),
    ((200, 6, "apply_time"), (202, 7, "agree_time"), (203, 7, ""), (206, 12, "success_time")),
    ((200, 6, "apply_time"), (204, 27, "refuse_time")),
    ((200, 6, "apply_time"), (207, 28, "close_time")),
    # Refused, the buyer asks customer service to arbitrate (a complaint), the refund follows.
    ((200, 6, "apply_time"), (204, 27, "refuse_time"), (212, 27, ""), (216, 27, ""),
     (206, 12, "success_time")),
)  # fmt: skip
ARBITRATION_STATUS = {212: 1, 216: 3}  # applied, concluded


def douyin_story(
    order: SandboxOrder, rng: random.Random, start: datetime, pick: int | None = None
) -> list[FeedbackMessage]:
    story = rng.choice(DOUYIN_STORIES) if pick is None else DOUYIN_STORIES[pick]
    aftersale_id = int(order.external_id) * 10 + 7
    arbitrate_id = f"ARB{order.external_id}"
    aftersale_type = 2 if "shipped" not in order.steps else rng.choice([0, 1])
    result = []
    for index, (tag, status, time_field) in enumerate(story):
        at = start + SPACING * index
        data: dict[str, Any] = {
            "aftersale_id": aftersale_id,
            "aftersale_status": status,
            "aftersale_type": aftersale_type,
            "p_id": int(order.external_id),
            "s_id": int(order.external_id) + 1,
            "shop_id": 4463798,
            "reason_code": 1,
            "refund_amount": fen(order.total),
            "refund_post_amount": 0,
            "refund_voucher_num": 0,
            "update_time": at.isoformat(timespec="seconds"),
        }
        if time_field:
            data[time_field] = unix(at)
        if tag in ARBITRATION_STATUS:
            data.update(arbitrate_id=arbitrate_id, arbitrate_status=ARBITRATION_STATUS[tag])
            data.pop("update_time")  # the arbitration messages carry no time
            if tag == 216:
                data["arbitrate_conclusion"] = 1
        msg_id = f"{order.external_id}:{tag}:{aftersale_id}:{order.run:x}"
        body = [{"tag": str(tag), "msg_id": msg_id, "data": json.dumps(data, ensure_ascii=False)}]
        payload = Payload(dumps(body), msg_id, f"tag:{tag}")
        if tag in ARBITRATION_STATUS:
            status_text = str(ARBITRATION_STATUS[tag])
            result.append(FeedbackMessage(payload, "complaint", arbitrate_id, status_text))
        else:
            result.append(FeedbackMessage(payload, "return", str(aftersale_id), str(status)))
    return result


# --- Youzan: trade_refund_* pushes, one refund id -----------------------------------------
YOUZAN_STORIES: tuple[tuple[str, ...], ...] = (
    ("BuyerCreated", "RefundSellerAgree", "RefundSuccess"),
    ("BuyerCreated", "RefundSellerAgreeReturnGoods", "RefundBuyerReturnGoods", "RefundSuccess"),
    ("BuyerCreated", "RefundClosed"),
    ("BuyerCreated", "RefundSellerRefuse", "YouzanInterApplied", "RefundSuccess"),
)
YOUZAN_REASONS = ("商品质量问题", "拍错/多拍/不喜欢", "商品描述不符", "未收到货")


def youzan_story(
    order: SandboxOrder, rng: random.Random, start: datetime, pick: int | None = None
) -> list[FeedbackMessage]:
    story = rng.choice(YOUZAN_STORIES) if pick is None else YOUZAN_STORIES[pick]
    refund_id = f"{order.number:06d}{order.run:07x}R"
    reason = rng.choice(YOUZAN_REASONS)
    result = []
    for index, name in enumerate(story):
        at = start + SPACING * index
        kind = f"trade_refund_{name}"
        msg = {
            "oids": str(order.number * 10 + 1),
            "refunded_fee": money(order.total),
            "refund_id": refund_id,
            "refund_reason": "1",
            "refund_reason_desc": reason,
            "refund_type": "REFUND_ONLY" if "shipped" not in order.steps else "REFUND_AND_RETURN",
            "tid": order.external_id,
            "update_time": china(at),
        }
        msg_id = event_uuid(order, index, YOUZAN_REFUND)
        status = "WAIT_BUYER_CONFIRM_GOODS" if "shipped" in order.steps else "TRADE_PAID"
        payload = youzan_push(order, msg_id, kind, status, at, msg)
        if name == "YouzanInterApplied":
            result.append(FeedbackMessage(payload, "complaint", refund_id, name))
        result.append(FeedbackMessage(payload, "return", refund_id, name))
    return result


# --- Shopify: refunds/create, or a dispute created and updated ----------------------------
def shopify_story(
    order: SandboxOrder, rng: random.Random, start: datetime, pick: int | None = None
) -> list[FeedbackMessage]:
    """``pick`` 0: a refund; 1: a dispute, created and updated twice."""
    order_id = _shopify_order_id(order)
    if (rng.random() < 0.6) if pick is None else pick == 0:
        refund_id = order_id * 10 + 3
        body = {
            "id": refund_id,
            "order_id": order_id,
            "created_at": start.isoformat(),
            "processed_at": start.isoformat(),
            "note": rng.choice(["Damaged in transit", "Wrong size", ""]),
            "restock": True,
            "user_id": 548380009,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
            "refund_line_items": [
                {
                    "id": refund_id * 10 + n,
                    "quantity": line.quantity,
                    "line_item_id": order_id * 100 + n,
                    "restock_type": "return",
                    "subtotal": money(line.amount),
                }
                for n, line in enumerate(order.lines)
            ],
            "transactions": [
                {
                    "id": refund_id * 10 + 9,
                    "order_id": order_id,
                    "kind": "refund",
                    "gateway": "bogus",
                    "status": "success",
                    "amount": money(order.total),
                    "currency": order.currency,
                }
            ],
            "order_adjustments": [],
        }
        payload = Payload(dumps(body), event_uuid(order, 0, SHOPIFY_FEEDBACK), "refunds/create")
        return [FeedbackMessage(payload, "return", str(refund_id), "refunded")]
    dispute_id = order_id * 10 + 5
    statuses = ("needs_response", "under_review", rng.choice(["won", "lost"]))
    result = []
    for index, status in enumerate(statuses):
        at = start + SPACING * index
        body = {
            "id": dispute_id,
            "order_id": order_id,
            "type": "chargeback",
            "amount": money(order.total),
            "currency": order.currency,
            "reason": rng.choice(["fraudulent", "product_not_received", "not_as_described"]),
            "network_reason_code": "4837",
            "status": status,
            "evidence_due_by": (start + timedelta(days=7)).date().isoformat(),
            "evidence_sent_on": at.date().isoformat() if index else None,
            "finalized_on": at.date().isoformat() if index == 2 else None,
            "initiated_at": start.isoformat(),
        }
        topic = "disputes/create" if index == 0 else "disputes/update"
        payload = Payload(dumps(body), event_uuid(order, index + 1, SHOPIFY_FEEDBACK), topic)
        result.append(FeedbackMessage(payload, "complaint", str(dispute_id), status))
    return result


def _shopify_order_id(order: SandboxOrder) -> int:
    return int(order.external_id)


STORIES = {"douyin": douyin_story, "youzan": youzan_story, "shopify": shopify_story}
