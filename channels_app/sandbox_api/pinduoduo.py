"""The Pinduoduo router (``POST /api/router``) as the sandbox serves it."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from typing import Any

from channels_app.adapters.common import CHINA_TZ
from channels_app.adapters.pinduoduo.mapping import sign
from channels_app.sandbox.generator import CATALOGUE, PLACES
from channels_app.sandbox_api.core import Reply, Request, SandboxCore

MAX_WINDOW_SECONDS = 1800
ALREADY_SHIPPED = 52101


def china(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _error(code: int, message: str, sub: str = "", status: int = 200) -> Reply:
    return Reply(
        status,
        {
            "error_response": {
                "error_code": code,
                "error_msg": message,
                "sub_code": "",
                "sub_msg": sub,
                "request_id": secrets.token_hex(8),
            }
        },
    )


class PinduoduoSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.clients: dict[str, str] = {}
        self.tokens: set[str] = set()
        self.orders: dict[str, dict[str, Any]] = {}

    def client_add(self, client_id: str, client_secret: str, access_token: str) -> None:
        self.clients[client_id] = client_secret
        self.tokens.add(access_token)

    def expire_token(self, access_token: str) -> None:
        self.tokens.discard(access_token)

    def order_add(
        self,
        *,
        updated: datetime,
        number: int,
        status: int = 1,
        rng: random.Random | None = None,
        ship_within: timedelta | None = None,
    ) -> str:
        """Add an order awaiting shipment (``status`` 1) updated at ``updated``. Its ship-by
        (``last_ship_time``) is two days after creation, or ``ship_within`` after ``updated``:
        the ``late_wms`` fault, an order paid long ago that the warehouse has not shipped."""
        rng = rng or random.Random(number)
        order_sn = (
            f"{updated.astimezone(CHINA_TZ):%y%m%d}-{rng.randint(10**14, 10**15 - 1)}{number:04d}"
        )
        province, city, town, _postal = rng.choice(PLACES)
        items = []
        goods = 0.0
        for sku, title, price in rng.sample(CATALOGUE, rng.randint(1, 3)):
            count = rng.randint(1, 3)
            goods += float(price) * count
            items.append(
                {
                    "goods_id": rng.randint(10**8, 10**9),
                    "sku_id": rng.randint(10**9, 10**10),
                    "goods_name": title,
                    "goods_count": count,
                    "goods_price": float(price),
                    "outer_id": sku,
                    "outer_goods_id": sku,
                }
            )
        created = updated - timedelta(minutes=rng.randint(2, 30))
        ship_by = created + timedelta(days=2)
        if ship_within is not None:
            ship_by = updated + ship_within
            created = ship_by - timedelta(days=2)
        info = {
            "order_sn": order_sn,
            "order_status": status,
            "refund_status": 1,
            "confirm_status": 1,
            "group_status": 1,
            "after_sales_status": 0,
            "trade_type": 0,
            "created_time": china(created),
            "confirm_time": china(created + timedelta(minutes=1)),
            "pay_time": china(created + timedelta(minutes=1)),
            "updated_at": china(updated),
            "last_ship_time": china(ship_by),
            "goods_amount": f"{goods:.2f}",
            "discount_amount": "0.00",
            "postage": "0.00",
            "pay_amount": f"{goods:.2f}",
            "province": province,
            "city": city,
            "town": town,
            "address_mask": "****",
            "receiver_name_mask": "王*",
            "receiver_phone_mask": "138****0000",
            "receiver_name": "",
            "receiver_phone": "",
            "receiver_address": "",
            "tracking_number": "",
            "logistics_id": 0,
            "item_list": items,
            "risk_control_status": 0,
            "shipping_time": "",
            "receive_time": "",
        }
        with self.api.lock:
            self.orders[order_sn] = info
        return order_sn

    def after_sale(self, order_sn: str, status: int, *, at: datetime) -> None:
        """The buyer's after-sale on ``order_sn`` reaches ``after_sales_status`` ``status``
        at ``at`` (the order's ``updated_at`` moves, so the next increment poll returns it);
        ``refund_status`` follows (4 退款成功 at 10, 2 售后处理中 while open, 1 once closed)."""
        refund = 4 if status == 10 else 1 if status in (0, 9, 11, 12, 13) else 2
        with self.api.lock:
            info = self.orders[order_sn]
            info.update(after_sales_status=status, refund_status=refund, updated_at=china(at))

    def route(self, request: Request) -> Reply | None:
        if request.path != "/api/router" or request.method != "POST":
            return None
        params = request.form() or dict(request.query)
        api = params.get("type", "")
        return self.api.guarded(api, lambda: self._call(api, params))

    def _call(self, api: str, params: dict[str, str]) -> Reply:
        secret = self.clients.get(params.get("client_id", ""))
        if secret is None:
            return _error(10001, "client_id不存在", "invalid client_id")
        if sign(params, secret) != params.get("sign"):
            return _error(10016, "签名错误", "sign check failed")
        if params.get("access_token") not in self.tokens:
            return _error(10019, "access_token已过期", "access_token expired or invalid")
        if api == "pdd.order.number.list.increment.get":
            return self._increment(params)
        if api == "pdd.order.information.get":
            with self.api.lock:
                info = self.orders.get(params.get("order_sn", ""))
            if info is None:
                return _error(10000, "参数错误", "order_sn not found")
            return Reply(200, {"order_info_get_response": {"order_info": dict(info)}})
        if api == "pdd.logistics.online.send":
            return self._ship(params)
        return _error(10000, "参数错误", f"unknown type {api}")

    def _increment(self, params: dict[str, str]) -> Reply:
        start, end = int(params["start_updated_at"]), int(params["end_updated_at"])
        if end < start or end - start > MAX_WINDOW_SECONDS:
            return _error(10000, "参数错误", "时间间隔不能超过30分钟")
        page, size = int(params.get("page") or 1), int(params.get("page_size") or 100)
        if page < 1 or not 1 <= size <= 100:
            return _error(10000, "参数错误", "page/page_size")
        low, high = (
            china(datetime.fromtimestamp(start, CHINA_TZ)),
            china(datetime.fromtimestamp(end, CHINA_TZ)),
        )
        with self.api.lock:
            rows = [dict(i) for i in self.orders.values() if low <= i["updated_at"] <= high]
        rows.sort(key=lambda i: (i["updated_at"], i["order_sn"]))
        body = {
            "total_count": len(rows),
            "order_sn_list": rows[(page - 1) * size : page * size],
            "request_id": secrets.token_hex(8),
        }
        return Reply(200, {"order_sn_increment_get_response": body})

    def _ship(self, params: dict[str, str]) -> Reply:
        with self.api.lock:
            info = self.orders.get(params.get("order_sn", ""))
            if info is None:
                return _error(10000, "参数错误", "order_sn not found")
            if info["order_status"] != 1:
                return _error(ALREADY_SHIPPED, "订单已发货", "order already shipped")
            now = datetime.now(CHINA_TZ)
            info.update(
                order_status=2,
                tracking_number=params.get("tracking_number", ""),
                logistics_id=params.get("logistics_id", ""),
                shipping_time=china(now),
                updated_at=china(now),
            )
            self.api.effective[("pinduoduo", info["order_sn"])] += 1
        self.api.faults.after_effect("pdd.logistics.online.send")
        return Reply(
            200,
            {
                "logistics_online_send_response": {
                    "is_success": True,
                    "request_id": secrets.token_hex(8),
                }
            },
        )
