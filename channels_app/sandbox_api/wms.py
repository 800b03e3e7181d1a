"""A warehouse management system's order API stand-in: the intercept request.

``GET /wms/v1/orders/{order_no}`` answers ``{"order_no", "status"}`` (404 for an unknown
order); ``POST /wms/v1/orders/{order_no}/intercept`` with JSON ``{"order_no", "reason",
"request_id"}`` stops an order that has not left (status ``INTERCEPTED``, 200 ``{"code": 0,
"status": "INTERCEPTED", "intercept_id"}``) and refuses one already shipped (409 ``{"code":
4091, "status": "SHIPPED", "message": "already shipped"}``). Every call needs the token in
``X-WMS-Token`` (compared in constant time; 401 otherwise).
"""

from __future__ import annotations

import hmac
import itertools

from channels_app.sandbox_api.core import Reply, Request, SandboxCore

PREFIX = "/wms/v1/orders/"
SHIPPED_STATES = frozenset({"SHIPPED", "DELIVERED"})


class WmsSandbox:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.tokens: set[str] = set()
        self.orders: dict[str, str] = {}  # order_no -> status
        self.intercepts: list[dict[str, str]] = []  # the intercept requests received, in order
        self._ids = itertools.count(9001)

    def order_set(self, order_no: str, status: str) -> None:
        """What the warehouse is doing with ``order_no`` (``PICKING``, ``SHIPPED``…)."""
        with self.api.lock:
            self.orders[order_no] = status

    def route(self, request: Request) -> Reply | None:
        if not request.path.startswith(PREFIX):
            return None
        token = request.headers.get("x-wms-token", "")
        if not any(hmac.compare_digest(token.encode(), known.encode()) for known in self.tokens):
            return Reply(401, {"code": 401, "message": "invalid token"})
        rest = request.path[len(PREFIX) :].strip("/").split("/")
        if len(rest) == 1 and request.method == "GET":
            return self.api.guarded("wms.order_get", lambda: self._get(rest[0]))
        if len(rest) == 2 and rest[1] == "intercept" and request.method == "POST":
            return self.api.guarded("wms.intercept", lambda: self._intercept(rest[0], request))
        return Reply(404, {"code": 404, "message": "unknown path"})

    def _get(self, order_no: str) -> Reply:
        with self.api.lock:
            status = self.orders.get(order_no)
        if status is None:
            return Reply(404, {"code": 404, "message": "unknown order"})
        return Reply(200, {"order_no": order_no, "status": status})

    def _intercept(self, order_no: str, request: Request) -> Reply:
        body = request.json() or {}
        with self.api.lock:
            self.intercepts.append({k: str(v) for k, v in body.items()})
            status = self.orders.get(order_no)
            if status is None:
                return Reply(404, {"code": 404, "message": "unknown order"})
            if status in SHIPPED_STATES:
                return Reply(409, {"code": 4091, "status": status, "message": "already shipped"})
            self.orders[order_no] = "INTERCEPTED"
            self.api.effective[("wms", order_no)] += 1
            return Reply(
                200, {"code": 0, "status": "INTERCEPTED", "intercept_id": str(next(self._ids))}
            )
