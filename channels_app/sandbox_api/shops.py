"""Shopify, Youzan and WooCommerce write-back endpoints, as the sandbox serves them."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from typing import Any

from channels_app.sandbox_api.core import Reply, Request, SandboxCore

SHOPIFY_VERSION = "2024-04"


class ShopsSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.shopify_tokens: set[str] = set()
        self.youzan_tokens: set[str] = set()
        self.woo_keys: dict[str, str] = {}
        # Shopify: order id → fulfillment orders; Youzan: tid → trade; Woo: id → order.
        self.shopify: dict[str, dict[str, Any]] = {}
        self.youzan: dict[str, dict[str, Any]] = {}
        self.woo: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(5_000_000_000)

    def shopify_order_add(self, order_id: str) -> None:
        with self.api.lock:
            self.shopify[order_id] = {
                "fulfillment_orders": [{"id": next(self._ids), "order_id": int(order_id),
                                        "status": "open", "line_items": []}],
                "fulfillments": [],
            }  # fmt: skip

    def youzan_trade_add(self, tid: str) -> None:
        with self.api.lock:
            self.youzan[tid] = {"tid": tid, "status": "WAIT_SELLER_SEND_GOODS"}

    def woo_order_add(self, order_id: str) -> None:
        with self.api.lock:
            self.woo[order_id] = {"id": int(order_id), "status": "processing", "meta_data": []}

    def route(self, request: Request) -> Reply | None:
        path = request.path
        prefix = f"/admin/api/{SHOPIFY_VERSION}/"
        if path.startswith(prefix):
            return self.api.guarded(
                "shopify." + path[len(prefix) :].split("/")[0], lambda: self._shopify(request)
            )
        if path.startswith("/api/youzan."):
            return self.api.guarded(path.split("/")[2], lambda: self._youzan(request))
        if path.startswith("/wp-json/wc/v3/orders/"):
            return self.api.guarded("woocommerce.orders", lambda: self._woo(request))
        return None

    def _shopify(self, request: Request) -> Reply:
        if request.headers.get("x-shopify-access-token") not in self.shopify_tokens:
            message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            return Reply(401, {"errors": message})
        headers = {"X-Shopify-Shop-Api-Call-Limit": "1/40"}
        parts = request.path.split("/")
        if parts[4] == "orders" and parts[-1] == "fulfillment_orders.json":
            with self.api.lock:
                record = self.shopify.get(parts[5])
            if record is None:
                return Reply(404, {"errors": "Not Found"}, headers)
            return Reply(200, {"fulfillment_orders": record["fulfillment_orders"]}, headers)
        if parts[4] == "fulfillments.json" and request.method == "POST":
            body = (request.json() or {}).get("fulfillment") or {}
            wanted = {
                i["fulfillment_order_id"] for i in body.get("line_items_by_fulfillment_order", [])
            }
            tracking = body.get("tracking_info", {})
            with self.api.lock:
                found = [
                    (order_id, record, fulfillment_order)
                    for order_id, record in self.shopify.items()
                    for fulfillment_order in record["fulfillment_orders"]
                    if fulfillment_order["id"] in wanted
                ]
                if not found:
                    return Reply(404, {"errors": "Not Found"}, headers)
                order_id, record, fulfillment_order = found[0]
                if fulfillment_order["status"] != "open":
                    return Reply(422, {"errors": ["Fulfillment order is not open"]}, headers)
                fulfillment_order["status"] = "closed"
                fulfillment = {
                    "id": next(self._ids),
                    "order_id": int(order_id),
                    "status": "success",
                    "tracking_number": tracking.get("number"),
                    "tracking_company": tracking.get("company"),
                }
                record["fulfillments"].append(fulfillment)
                self.api.effective[("shopify", order_id)] += 1
            self.api.faults.after_effect("shopify.fulfillments.json")
            return Reply(201, {"fulfillment": fulfillment}, headers)
        return Reply(404, {"errors": "Not Found"}, headers)

    def _youzan(self, request: Request) -> Reply:
        if request.query.get("access_token") not in self.youzan_tokens:
            return Reply(
                200, {"success": False, "code": 4203, "message": "access_token 不存在或已过期"}
            )
        body = request.json() or {}
        api = request.path.split("/")[2]
        if api != "youzan.logistics.online.confirm":
            return Reply(200, {"success": False, "code": 4004, "message": "api 不存在"})
        with self.api.lock:
            trade = self.youzan.get(str(body.get("tid")))
            if trade is None:
                return Reply(200, {"success": False, "code": 101100501, "message": "订单不存在"})
            if trade["status"] != "WAIT_SELLER_SEND_GOODS":
                return Reply(200, {"success": False, "code": 101600016, "message": "订单已发货"})
            trade.update(status="WAIT_BUYER_CONFIRM_GOODS", out_sid=body.get("out_sid"),
                         out_stype=body.get("out_stype"))  # fmt: skip
            self.api.effective[("youzan", trade["tid"])] += 1
        self.api.faults.after_effect("youzan.logistics.online.confirm")
        return Reply(200, {"success": True, "code": 200, "message": "successful",
                           "data": {"is_success": True}})  # fmt: skip

    def _woo(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        try:
            key, _colon, secret = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            key, secret = "", ""
        if self.woo_keys.get(key) != secret or not key:
            return Reply(401, {"code": "woocommerce_rest_cannot_view",
                               "message": "Sorry, you cannot view this resource.",
                               "data": {"status": 401}})  # fmt: skip
        order_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        with self.api.lock:
            order = self.woo.get(order_id)
            if order is None:
                return Reply(404, {"code": "woocommerce_rest_shop_order_invalid_id",
                                   "message": "Invalid ID.", "data": {"status": 404}})  # fmt: skip
            if request.method in ("PUT", "POST"):
                body = request.json() or {}
                if body.get("status") and body["status"] != order["status"]:
                    self.api.effective[("woocommerce", order_id)] += 1
                    order["status"] = body["status"]
                    order["date_modified_gmt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
                order["meta_data"] = [*order["meta_data"], *body.get("meta_data", [])]
            result = dict(order)
        return Reply(200, result)
