"""Amazon SP-API Orders v0 and LWA, as the sandbox serves them."""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from channels_app.sandbox.generator import CATALOGUE, FOREIGN, FOREIGN_NAMES
from channels_app.sandbox_api.core import Reply, Request, SandboxCore

RATE_LIMIT_HEADER = "20.0"
TOKEN_SECONDS = 3600


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str, details: str = "") -> Reply:
    return Reply(
        status,
        {"errors": [{"code": code, "message": message, "details": details}]},
        {"x-amzn-RequestId": str(uuid.uuid4())},
    )


class AmazonSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.clients: dict[str, tuple[str, str]] = {}  # client_id → (secret, refresh token)
        self.revoked: set[str] = set()
        self.tokens: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.marketplace = "ATVPDKIKX0DER"
        self.rate_limit_header = RATE_LIMIT_HEADER

    # --- set-up -------------------------------------------------------------------------
    def client_add(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self.clients[client_id] = (client_secret, refresh_token)

    def expire_tokens(self) -> None:
        with self.api.lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def order_add(
        self, *, status: str, updated: datetime, number: int, rng: random.Random | None = None
    ) -> str:
        rng = rng or random.Random(number)
        order_id = f"{rng.randint(100, 999)}-{rng.randint(10**6, 10**7 - 1)}-{number:07d}"
        picks = rng.sample(CATALOGUE, rng.randint(1, 3))
        items: list[dict[str, Any]] = []
        total = 0.0
        for index, (sku, title, price) in enumerate(picks):
            quantity = rng.randint(1, 3)
            amount = float(price) * quantity
            total += amount
            items.append(
                {
                    "ASIN": f"B0{rng.randint(10**7, 10**8 - 1)}",
                    "SellerSKU": sku,
                    "OrderItemId": f"{number:07d}{index:03d}",
                    "Title": title,
                    "QuantityOrdered": quantity,
                    "QuantityShipped": 0,
                    "ItemPrice": {"CurrencyCode": "USD", "Amount": f"{amount:.2f}"},
                    "IsGift": "false",
                }
            )
        country, region, city, postal, street = rng.choice(FOREIGN)
        first, last = rng.choice(FOREIGN_NAMES)
        purchase = updated - timedelta(minutes=rng.randint(1, 60))
        order = {
            "AmazonOrderId": order_id,
            "PurchaseDate": iso(purchase),
            "LastUpdateDate": iso(updated),
            "OrderStatus": status,
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": f"{total:.2f}"},
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": sum(int(str(i["QuantityOrdered"])) for i in items),
            "MarketplaceId": self.marketplace,
            "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder",
            "IsPrime": False,
            "IsBusinessOrder": False,
            "LatestShipDate": iso(purchase + timedelta(days=2)),
        }
        address = {
            "Name": f"{first} {last}",
            "AddressLine1": street,
            "City": city,
            "StateOrRegion": region,
            "PostalCode": postal,
            "CountryCode": country,
            "Phone": f"+1{rng.randint(2000000000, 9999999999)}",
        }
        with self.api.lock:
            self.orders[order_id] = {"order": order, "items": items, "address": address}
        return order_id

    def order_update(self, order_id: str, *, status: str, updated: datetime) -> None:
        with self.api.lock:
            order = self.orders[order_id]["order"]
            order["OrderStatus"] = status
            order["LastUpdateDate"] = iso(updated)

    # --- serving ------------------------------------------------------------------------
    def route(self, request: Request) -> Reply | None:
        path = request.path
        if path == "/auth/o2/token" and request.method == "POST":
            return self.api.guarded("lwa.token", lambda: self._token(request))
        if not path.startswith("/orders/v0/orders"):
            return None
        parts = path.split("/")[4:]  # after /orders/v0/orders
        if not parts or parts == [""]:
            return self.api.guarded("getOrders", lambda: self._authed(request, self._get_orders))
        order_id = parts[0]
        if len(parts) == 1:
            return self.api.guarded(
                "getOrder", lambda: self._authed(request, lambda r: self._get_order(order_id))
            )
        if parts[1] == "orderItems":
            return self.api.guarded(
                "getOrderItems", lambda: self._authed(request, lambda r: self._items(order_id))
            )
        if parts[1] == "address":
            return self.api.guarded(
                "getOrderAddress", lambda: self._authed(request, lambda r: self._address(order_id))
            )
        if parts[1] == "shipmentConfirmation" and request.method == "POST":
            return self.api.guarded(
                "confirmShipment",
                lambda: self._authed(request, lambda r: self._confirm(order_id, r)),
            )
        return _error(404, "NotFound", "Resource not found")

    def _token(self, request: Request) -> Reply:
        values = (
            request.json()
            if request.headers.get("content-type", "").startswith("application/json")
            else request.form()
        )
        client = self.clients.get(values.get("client_id", ""))
        if client is None or client[0] != values.get("client_secret"):
            return Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        if values.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant"})
        if values.get("refresh_token") != client[1] or values.get("client_id") in self.revoked:
            return Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": (
                        "The request has an invalid grant parameter : refresh_token"
                    ),
                },
            )
        token = "Atza|" + secrets.token_urlsafe(24)
        with self.api.lock:
            self.tokens[token] = time.time() + TOKEN_SECONDS
        return Reply(
            200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS}
        )

    def _authed(self, request: Request, handler: Any) -> Reply:
        token = request.headers.get("x-amz-access-token", "")
        with self.api.lock:
            expires = self.tokens.get(token)
        if expires is None:
            return _error(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided is revoked, malformed or invalid.",
            )
        if expires < time.time():
            return _error(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            )
        reply: Reply = handler(request)
        reply.headers.setdefault("x-amzn-RateLimit-Limit", self.rate_limit_header)
        reply.headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        return reply

    def _get_orders(self, request: Request) -> Reply:
        query = request.query
        if not query.get("MarketplaceIds"):
            return _error(400, "InvalidInput", "Missing required 'MarketplaceIds'.")
        size = int(query.get("MaxResultsPerPage") or 100)
        if not 1 <= size <= 100:
            return _error(400, "InvalidInput", "MaxResultsPerPage must be between 1 and 100.")
        offset = 0
        if query.get("NextToken"):
            try:
                offset = int(json.loads(base64.b64decode(query["NextToken"]))["offset"])
            except (ValueError, KeyError):
                return _error(400, "InvalidInput", "Invalid NextToken.")
        after = query.get("LastUpdatedAfter") or ""
        before = query.get("LastUpdatedBefore") or ""
        wanted = {i for i in (query.get("AmazonOrderIds") or "").split(",") if i}
        with self.api.lock:
            rows = [dict(o["order"]) for o in self.orders.values()]
        if wanted:
            rows = [r for r in rows if r["AmazonOrderId"] in wanted]
        else:
            if not after and not query.get("CreatedAfter"):
                return _error(
                    400,
                    "InvalidInput",
                    "Either CreatedAfter or LastUpdatedAfter must be specified.",
                )
            rows = [
                r
                for r in rows
                if r["LastUpdateDate"] >= after and (not before or r["LastUpdateDate"] < before)
            ]
        rows.sort(key=lambda r: (r["LastUpdateDate"], r["AmazonOrderId"]))
        page = rows[offset : offset + size]
        # The real sandbox echoes CreatedBefore as an epoch in scientific notation.
        payload: dict[str, Any] = {"Orders": page, "CreatedBefore": "1.569521782042E9"}
        if before:
            payload["LastUpdatedBefore"] = before
        if offset + size < len(rows):
            payload["NextToken"] = base64.b64encode(
                json.dumps({"offset": offset + size, "n": secrets.token_hex(4)}).encode()
            ).decode()
        return Reply(200, {"payload": payload})

    def _get_order(self, order_id: str) -> Reply:
        with self.api.lock:
            record = self.orders.get(order_id)
        if record is None:
            return _error(404, "NotFound", f"Order {order_id} not found.")
        return Reply(200, {"payload": dict(record["order"])})

    def _items(self, order_id: str) -> Reply:
        with self.api.lock:
            record = self.orders.get(order_id)
        if record is None:
            return _error(404, "NotFound", f"Order {order_id} not found.")
        return Reply(200, {"payload": {"AmazonOrderId": order_id, "OrderItems": record["items"]}})

    def _address(self, order_id: str) -> Reply:
        with self.api.lock:
            record = self.orders.get(order_id)
        if record is None:
            return _error(404, "NotFound", f"Order {order_id} not found.")
        return Reply(
            200, {"payload": {"AmazonOrderId": order_id, "ShippingAddress": record["address"]}}
        )

    def _confirm(self, order_id: str, request: Request) -> Reply:
        body = request.json() or {}
        package = body.get("packageDetail") or {}
        if not package.get("trackingNumber") or not package.get("orderItems"):
            return _error(400, "InvalidInput", "packageDetail needs trackingNumber and orderItems.")
        with self.api.lock:
            record = self.orders.get(order_id)
            if record is None:
                return _error(404, "NotFound", f"Order {order_id} not found.")
            order = record["order"]
            if order["OrderStatus"] in ("Shipped", "Canceled"):
                return _error(400, "InvalidInput", f"Order is {order['OrderStatus']}.")
            order["OrderStatus"] = "Shipped"
            order["LastUpdateDate"] = iso(datetime.now(UTC))
            record["package"] = package
            self.api.effective[("amazon", order_id)] += 1
        self.api.faults.after_effect("confirmShipment")
        return Reply(204, None)
