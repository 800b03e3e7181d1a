"""Amazon SP-API over HTTP: LWA tokens (cached), getOrders paging, items, address, and
shipment confirmation for write-back."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from channels_app.adapters.amazon.mapping import DEFAULT_BASE_URL, DEFAULT_TOKEN_URL
from channels_app.adapters.base import AccountConfig
from channels_app.http import (
    HttpClient,
    HttpResult,
    PlatformError,
    TerminalError,
    TransientError,
)
from channels_app.outbound.base import WriteRequest, WriteResult, writers
from channels_app.pull.base import (
    ChannelRecord,
    Page,
    PullContext,
    PulledMessage,
    StoredPush,
    pullers,
)

# Refresh a cached access token this long before it expires.
TOKEN_MARGIN_SECONDS = 120
# LWA error codes that mean "a human must re-authorize", not "try again".
TERMINAL_LWA_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"}
)
# getOrders' LastUpdatedBefore must be at least two minutes before now.
BEFORE_MARGIN = timedelta(minutes=2)
ADDRESS_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
PAGE_SIZE = 100

_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(result: HttpResult) -> tuple[str, str]:
    try:
        body = result.json()
    except ValueError:
        return "", result.body[:200].decode("utf-8", "replace")
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, Mapping):
            return str(
                first.get("code", "")
            ), f"{first.get('message', '')} {first.get('details', '')}"
    return "", ""


class AmazonClient:
    def __init__(self, account: AccountConfig, http: HttpClient) -> None:
        self.account = account
        self.http = http
        self.base_url = (account.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.token_url = account.options.get("token_url") or DEFAULT_TOKEN_URL
        self.marketplaces = [
            m.strip() for m in account.options.get("marketplace_ids", "").split(",") if m.strip()
        ]
        refresh = account.secrets.get("refresh_token", "")
        self._cache_key = hashlib.sha256(
            f"{self.token_url}\x1f{account.options.get('client_id', '')}\x1f{refresh}".encode()
        ).hexdigest()

    # --- LWA ---------------------------------------------------------------------------
    def access_token(self, *, force: bool = False) -> str:
        """A cached LWA access token, refreshed ``TOKEN_MARGIN_SECONDS`` before expiry."""
        with _tokens_lock:
            cached = _tokens.get(self._cache_key)
        if cached and not force and cached[1] > time.time():
            return cached[0]
        result = self.http.request(
            "POST",
            self.token_url,
            operation="lwa.token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.account.secrets.get("refresh_token", ""),
                "client_id": self.account.options.get("client_id", ""),
                "client_secret": self.account.secrets.get("client_secret", ""),
            },
        )
        try:
            body = result.json() or {}
        except ValueError:
            body = {}
        if result.status != 200:
            error = str(body.get("error", "")) if isinstance(body, Mapping) else ""
            if error in TERMINAL_LWA_ERRORS or result.status == 401:
                raise TerminalError(
                    f"LWA refused the credentials: {error or result.status} "
                    f"{body.get('error_description', '') if isinstance(body, Mapping) else ''}"
                )
            raise TransientError(f"LWA token: HTTP {result.status}")
        token = str(body["access_token"])
        expires = time.time() + max(60, int(body.get("expires_in", 3600)) - TOKEN_MARGIN_SECONDS)
        with _tokens_lock:
            _tokens[self._cache_key] = (token, expires)
        return token

    def call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        http: HttpClient | None = None,
    ) -> HttpResult:
        """One SP-API call; a refused access token is replaced once and the call repeated."""
        client = http or self.http
        for attempt in (1, 2):
            headers = {
                "x-amz-access-token": self.access_token(force=attempt == 2),
                "user-agent": "OrderHub/1.0 (Language=Python)",
                "accept": "application/json",
            }
            result = client.request(
                method,
                f"{self.base_url}{path}",
                operation=operation,
                params=params,
                json_body=json_body,
                headers=headers,
            )
            if result.status in (401, 403):
                code, message = _errors(result)
                if attempt == 1:
                    # An expired or revoked cached access token: one fresh token, one retry.
                    continue
                raise TerminalError(f"SP-API refused access: {code} {message}".strip())
            if result.status >= 400:
                code, message = _errors(result)
                raise PlatformError(code or str(result.status), message)
            return result
        raise TerminalError("SP-API refused a freshly issued access token")

    def get_orders(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        result = self.call("GET", "/orders/v0/orders", operation="getOrders", params=params)
        return (result.json() or {}).get("payload") or {}

    def get_order(self, order_id: str) -> Mapping[str, Any]:
        result = self.call("GET", f"/orders/v0/orders/{order_id}", operation="getOrder")
        return (result.json() or {}).get("payload") or {}

    def get_order_items(self, order_id: str) -> list[Any]:
        items: list[Any] = []
        token = ""
        while True:
            params = {"NextToken": token} if token else None
            result = self.call(
                "GET",
                f"/orders/v0/orders/{order_id}/orderItems",
                operation="getOrderItems",
                params=params,
            )
            payload = (result.json() or {}).get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            token = payload.get("NextToken") or ""
            if not token:
                return items

    def get_order_address(self, order_id: str) -> Mapping[str, Any] | None:
        result = self.call(
            "GET", f"/orders/v0/orders/{order_id}/address", operation="getOrderAddress"
        )
        return (result.json() or {}).get("payload") or None

    def order_message(self, order: Mapping[str, Any]) -> PulledMessage:
        order_id = str(order["AmazonOrderId"])
        items = self.get_order_items(order_id)
        address = (
            self.get_order_address(order_id)
            if order.get("OrderStatus") in ADDRESS_STATUSES
            else None
        )
        body = {"order": order, "items": items, "address": address}
        return PulledMessage(
            delivery_id=f"{order_id}@{order.get('LastUpdateDate', '')}",
            event_type="getOrders",
            payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        )


class AmazonPuller:
    """Cursor ``{"after", "before", "next_token"}``: a window by LastUpdatedAfter/Before,
    paged by NextToken; the next window starts where the finished one ended."""

    push_batch = 0  # completes no pushes

    def __init__(self, account: AccountConfig, context: PullContext) -> None:
        self.context = context
        self.client = AmazonClient(account, HttpClient(on_rate_limited=context.on_rate_limited))
        self.lookback = timedelta(hours=float(account.options.get("lookback_hours") or 24))
        self.page_size = min(PAGE_SIZE, int(account.options.get("page_size") or PAGE_SIZE))

    def _window_params(self, after: str, before: str) -> dict[str, Any]:
        return {
            "MarketplaceIds": ",".join(self.client.marketplaces),
            "LastUpdatedAfter": after,
            "LastUpdatedBefore": before,
            "MaxResultsPerPage": self.page_size,
        }

    def page(self, cursor: Mapping[str, Any], pushes: Sequence[StoredPush] = ()) -> Page:
        token = cursor.get("next_token") or ""
        if token:
            after, before = str(cursor["after"]), str(cursor["before"])
        else:
            after = str(cursor.get("after") or _iso(self.context.now - self.lookback))
            before = _iso(self.context.now - BEFORE_MARGIN)
            if before <= after:
                return Page((), dict(cursor), done=True)
        params = self._window_params(after, before)
        if token:
            params["NextToken"] = token
        payload = self.client.get_orders(params)
        messages = tuple(self.client.order_message(order) for order in payload.get("Orders") or [])
        next_token = payload.get("NextToken") or ""
        if next_token:
            return Page(
                messages, {"after": after, "before": before, "next_token": next_token}, False
            )
        return Page(messages, {"after": before, "next_token": ""}, True)

    def channel_list(self, start: datetime, end: datetime) -> list[ChannelRecord]:
        records: list[ChannelRecord] = []
        params = self._window_params(_iso(start), _iso(end))
        while True:
            payload = self.client.get_orders(params)
            for order in payload.get("Orders") or []:
                records.append(
                    ChannelRecord(str(order["AmazonOrderId"]), str(order["OrderStatus"]))
                )
            token = payload.get("NextToken") or ""
            if not token:
                return records
            params = {**params, "NextToken": token}

    def fetch(self, external_ids: list[str]) -> list[PulledMessage]:
        messages: list[PulledMessage] = []
        for start in range(0, len(external_ids), 50):
            params = {
                "MarketplaceIds": ",".join(self.client.marketplaces),
                "AmazonOrderIds": ",".join(external_ids[start : start + 50]),
                "LastUpdatedAfter": "2000-01-01T00:00:00Z",
            }
            payload = self.client.get_orders(params)
            messages.extend(self.client.order_message(o) for o in payload.get("Orders") or [])
        return messages


pullers.add("amazon", AmazonPuller)


@writers.register("amazon")
def amazon_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """confirmShipment. Amazon takes no idempotency key, so a re-send checks getOrder first:
    an order already ``Shipped`` is acknowledged without a second call."""
    client = AmazonClient(account, http)
    order_id = request.external_id
    if request.attempt > 1:
        current = client.get_order(order_id)
        if current.get("OrderStatus") in ("Shipped", "InvoiceUnconfirmed"):
            return WriteResult(already_done=True, raw_status=str(current["OrderStatus"]))
    items = client.get_order_items(order_id)
    payload = request.payload
    body = {
        "marketplaceId": client.marketplaces[0] if client.marketplaces else "",
        "packageDetail": {
            "packageReferenceId": request.idempotency_key[-40:],
            "carrierCode": payload.get("carrier") or "Other",
            "trackingNumber": payload.get("tracking_number") or "",
            "shipDate": payload.get("shipped_at") or _iso(datetime.now(UTC)),
            "orderItems": [
                {"orderItemId": item["OrderItemId"], "quantity": item["QuantityOrdered"]}
                for item in items
            ],
        },
    }
    result = client.call(
        "POST",
        f"/orders/v0/orders/{order_id}/shipmentConfirmation",
        operation="confirmShipment",
        json_body=body,
    )
    return WriteResult(
        already_done=False,
        remote_ref=result.headers.get("x-amzn-RequestId", ""),
        raw_status="Shipped",
    )
