"""Douyin shop order detail (``order.orderDetail`` / ``order.searchList`` records): pure
normalization of ``{"shop_order_detail": {...}}`` messages stored by the poller.

Facts are ``order_status:<n>`` at the record's own times: created, paid, shipped, finished,
and a cancel at ``update_time``. Times are unix seconds, money in fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

DETAIL_STATUS_MAP = {
    "order_status:1": Milestone.PLACED,
    "order_status:105": Milestone.PAID,
    "order_status:2": Milestone.PAID,
    "order_status:101": Milestone.HANDED_OVER,
    "order_status:3": Milestone.HANDED_OVER,
    "order_status:4": Milestone.CANCELLED,
    "order_status:5": Milestone.DELIVERED,
}


def is_detail(payload: Any) -> bool:
    return isinstance(payload, Mapping) and "shop_order_detail" in payload


def current_raw_status(detail: Mapping[str, Any]) -> str:
    return f"order_status:{detail.get('order_status')}"


def _time(detail: Mapping[str, Any], name: str) -> datetime | None:
    value = detail.get(name)
    if value in (None, "", 0, "0"):
        return None
    return common.epoch_time(value, f"shop_order_detail.{name}")


def detail_normalize(account: AccountConfig, payload: Mapping[str, Any]) -> list[NormalizedOrder]:
    path = "shop_order_detail"
    detail = common.mapping(payload.get("shop_order_detail"), path)
    external_id = common.text(detail.get("order_id"), f"{path}.order_id", max_length=128)
    status = str(detail.get("order_status"))
    facts = []
    for name, raw in (
        ("create_time", "1"),
        ("pay_time", "105"),
        ("ship_time", "3"),
        ("finish_time", "5"),
    ):
        moment = _time(detail, name)
        if moment is not None and (raw != "5" or status == "5"):
            facts.append(StatusFactIn(account.system, f"order_status:{raw}", None, moment))
    if status == "4":
        moment = _time(detail, "update_time") or _time(detail, "create_time")
        if moment is not None:
            facts.append(StatusFactIn(account.system, "order_status:4", None, moment))
    post = common.mapping(detail.get("post_addr") or {}, f"{path}.post_addr")

    def part(name: str) -> str | None:
        value = post.get(name)
        if isinstance(value, Mapping):
            value = value.get("name")
        return value.strip() or None if isinstance(value, str) else None

    logistics = detail.get("logistics_info") or []
    first = logistics[0] if isinstance(logistics, list) and logistics else {}
    lines = []
    for index, raw in enumerate(detail.get("sku_order_list") or []):
        item = common.mapping(raw, f"{path}.sku_order_list[{index}]")
        count = common.quantity(item.get("item_num", 1), f"{path}.sku_order_list[{index}]")
        lines.append(
            NormalizedLine(
                line_no=index + 1,
                sku=common.text(
                    item.get("out_sku_id") or item.get("code") or item.get("sku_id"),
                    f"{path}.sku_order_list[{index}].out_sku_id",
                    max_length=64,
                ),
                quantity=count,
                unit_price=common.fen(
                    item.get("origin_amount", 0), f"{path}.sku_order_list[{index}].origin_amount"
                )
                / count,
                title=str(item.get("product_name") or "")[:255],
            )
        )
    return [
        NormalizedOrder(
            channel=account.code,
            external_id=external_id,
            receiver_name=common.optional_text(
                detail.get("mask_post_receiver"), f"{path}.mask_post_receiver"
            ),
            receiver_phone=common.optional_text(
                detail.get("mask_post_tel"), f"{path}.mask_post_tel", max_length=32
            ),
            country="CN" if part("province") else None,
            province=part("province"),
            city=part("city"),
            district=part("town"),
            address=common.optional_text(post.get("detail"), f"{path}.post_addr.detail"),
            currency="CNY" if "pay_amount" in detail else None,
            total_amount=common.optional_fen(detail.get("pay_amount"), f"{path}.pay_amount"),
            shipping_amount=common.optional_fen(detail.get("post_amount"), f"{path}.post_amount"),
            carrier=common.optional_text(
                first.get("company") if isinstance(first, Mapping) else None,
                f"{path}.logistics_info.company",
            ),
            tracking_number=common.optional_text(
                first.get("delivery_id") if isinstance(first, Mapping) else None,
                f"{path}.logistics_info.delivery_id",
            ),
            placed_at=_time(detail, "create_time"),
            paid_at=_time(detail, "pay_time"),
            lines=tuple(lines) or None,
            facts=tuple(facts),
        )
    ]
