"""The Douyin shop gateway (``POST /<method path>``) and its message push, as the sandbox
serves and sends them. Pushes can be dropped silently (``drop_rate``)."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from channels_app.adapters.base import AccountConfig
from channels_app.adapters.douyin.client import param_json, sign
from channels_app.sandbox.encoders import douyin_payload, fen, unix, wrap
from channels_app.sandbox.generator import SandboxOrder, generate_order
from channels_app.sandbox_api.core import Reply, Request, SandboxCore

STATUS = {"placed": 1, "paid": 105, "shipped": 3, "delivered": 5, "cancelled": 4}
TIME_FIELD = {
    "placed": "create_time",
    "paid": "pay_time",
    "shipped": "ship_time",
    "delivered": "finish_time",
    "cancelled": "update_time",
}
ALREADY_SHIPPED = 50002


def _ok(data: Any) -> Reply:
    return Reply(
        200,
        {
            "code": 10000,
            "msg": "success",
            "sub_code": "",
            "sub_msg": "",
            "data": data,
            "log_id": secrets.token_hex(10),
        },
    )


def _error(code: int, msg: str, sub_msg: str = "") -> Reply:
    return Reply(
        200,
        {
            "code": code,
            "msg": msg,
            "sub_code": "isv.business-failed",
            "sub_msg": sub_msg or msg,
            "data": {},
            "log_id": secrets.token_hex(10),
        },
    )


@dataclass(frozen=True, slots=True)
class PushReport:
    orders: tuple[SandboxOrder, ...]
    sent: int
    dropped: int


def detail_of(order: SandboxOrder, steps: int | None = None) -> dict[str, Any]:
    """The order detail record after its first ``steps`` steps (all by default)."""
    count = len(order.steps) if steps is None else steps
    detail: dict[str, Any] = {
        "order_id": order.external_id,
        "shop_id": 4463798,
        "order_type": 0,
        "biz": 2,
        "pay_type": 1,
        "pay_amount": fen(order.total),
        "post_amount": fen(order.shipping),
        "order_amount": fen(order.total),
        "mask_post_receiver": order.buyer_name[:1] + "**",
        "mask_post_tel": order.phone[:3] + "****" + order.phone[-4:],
        "post_addr": {
            "province": {"name": order.province},
            "city": {"name": order.city},
            "town": {"name": order.district},
            "detail": order.street,
        },
        "sku_order_list": [
            {
                "sku_order_id": f"{order.external_id}{n}",
                "out_sku_id": line.sku,
                "product_name": line.title,
                "item_num": line.quantity,
                "origin_amount": fen(line.amount),
                "order_status": 0,
            }
            for n, line in enumerate(order.lines)
        ],
        "logistics_info": [],
        "create_time": 0,
        "pay_time": 0,
        "ship_time": 0,
        "finish_time": 0,
    }
    for name, at in zip(order.steps[:count], order.step_times[:count], strict=True):
        detail[TIME_FIELD[name]] = unix(at)
        detail["order_status"] = STATUS[name]
        detail["update_time"] = unix(at)
        if name == "shipped":
            detail["logistics_info"] = [
                {
                    "company": "shunfeng",
                    "company_name": "顺丰速运",
                    "delivery_id": order.tracking_number,
                }
            ]
    for item in detail["sku_order_list"]:
        item["order_status"] = detail["order_status"]
    return detail


class DouyinSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.apps: dict[str, str] = {}
        self.tokens: set[str] = set()
        self.orders: dict[str, dict[str, Any]] = {}

    def app_add(self, app_key: str, app_secret: str, access_token: str) -> None:
        self.apps[app_key] = app_secret
        self.tokens.add(access_token)

    def order_put(self, detail: dict[str, Any]) -> None:
        with self.api.lock:
            self.orders[str(detail["order_id"])] = detail

    def push_orders(
        self,
        *,
        account: AccountConfig,
        hook_url: str,
        count: int,
        seed: int,
        drop_rate: float = 0.0,
        now: datetime,
        send: Callable[..., Any] | None = None,
    ) -> PushReport:
        """Generate ``count`` orders, keep their detail, push every step to ``hook_url``
        (signed as the platform does), silently dropping each push with ``drop_rate``."""
        rng = random.Random(seed)
        drop_rng = random.Random(seed + 1)
        post = send or requests.post
        orders, sent, dropped = [], 0, 0
        for number in range(count):
            order = generate_order("douyin", number, rng, now)
            orders.append(order)
            self.order_put(detail_of(order))
            for step in range(len(order.steps)):
                if drop_rng.random() < drop_rate:
                    dropped += 1
                    continue
                request = wrap(account, douyin_payload(order, step), sent_at=now)
                post(
                    hook_url.rstrip("/") + request.path,
                    data=request.body,
                    headers=request.headers,
                    timeout=10,
                )
                sent += 1
        return PushReport(tuple(orders), sent, dropped)

    def route(self, request: Request) -> Reply | None:
        method = request.query.get("method", "")
        if not method or request.path != "/" + method.replace(".", "/"):
            return None
        return self.api.guarded(method, lambda: self._call(method, request))

    def _call(self, method: str, request: Request) -> Reply:
        query = request.query
        secret = self.apps.get(query.get("app_key", ""))
        if secret is None:
            return _error(30001, "app_key不存在")
        text = request.body.decode()
        expected = sign(
            app_key=query["app_key"],
            app_secret=secret,
            method=method,
            params_text=text,
            timestamp=query.get("timestamp", ""),
        )
        if expected != query.get("sign"):
            return _error(40004, "签名校验失败", "sign check failed")
        if query.get("access_token") not in self.tokens:
            return _error(30002, "access_token已过期", "access_token invalid or expired")
        params = json.loads(text or "{}")
        if param_json(params) != text:
            return _error(40004, "param_json 格式错误")
        if method == "order.orderDetail":
            with self.api.lock:
                detail = self.orders.get(str(params.get("shop_order_id")))
            if detail is None:
                return _error(50001, "订单不存在")
            return _ok({"shop_order_detail": dict(detail)})
        if method == "order.searchList":
            low, high = int(params["update_time_start"]), int(params["update_time_end"])
            page, size = int(params.get("page", 0)), int(params.get("size", 100))
            with self.api.lock:
                rows = [dict(d) for d in self.orders.values() if low <= d["update_time"] <= high]
            rows.sort(key=lambda d: (d["update_time"], d["order_id"]))
            return _ok(
                {
                    "shop_order_list": rows[page * size : (page + 1) * size],
                    "total": len(rows),
                    "page": page,
                    "size": size,
                }
            )
        if method == "logistics.add":
            return self._ship(params)
        return _error(40001, "method 不存在")

    def _ship(self, params: dict[str, Any]) -> Reply:
        with self.api.lock:
            detail = self.orders.get(str(params.get("order_id")))
            if detail is None:
                return _error(50001, "订单不存在")
            if detail["order_status"] in (3, 4, 5, 101):
                return _error(ALREADY_SHIPPED, "订单已发货", "订单已发货, 不能重复发货")
            now = int(datetime.now(UTC).timestamp())
            detail.update(
                order_status=3,
                ship_time=now,
                update_time=now,
                logistics_info=[
                    {
                        "company": params.get("company_code", ""),
                        "delivery_id": params.get("logistics_code", ""),
                    }
                ],
            )
            self.api.effective[("douyin", str(detail["order_id"]))] += 1
        self.api.faults.after_effect("logistics.add")
        return _ok({})
