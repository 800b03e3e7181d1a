"""Write-back calls of the pushed shop channels: Shopify fulfillment create, Youzan logistics
confirm, WooCommerce order update. Account options ``base_url`` (and the shop's token or keys)
come from the adapters' optional options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.http import HttpClient, HttpResult, PlatformError, TerminalError
from channels_app.outbound.base import WriteRequest, WriteResult, writers

SHOPIFY_VERSION = "2024-04"
YOUZAN_DEFAULT_BASE_URL = "https://open.youzanyun.com"
YOUZAN_TOKEN_CODES = frozenset({4201, 4202, 4203})
ALREADY_SHIPPED_TEXT = "已发货"


def _json(result: HttpResult) -> Any:
    try:
        return result.json()
    except ValueError:
        return None


def _refused(result: HttpResult, platform: str) -> None:
    if result.status in (401, 403):
        raise TerminalError(f"{platform} refused the credentials: HTTP {result.status}")
    if result.status >= 400:
        raise PlatformError(str(result.status), result.body[:300].decode("utf-8", "replace"))


@writers.register("shopify")
def shopify_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """Fulfil every open fulfillment order of the order with the tracking number. Reading the
    fulfillment orders first is the check before re-send: none open → already fulfilled."""
    domain = account.options.get("shop_domain", "")
    base = (account.options.get("base_url") or f"https://{domain}").rstrip("/")
    headers = {
        "X-Shopify-Access-Token": account.secrets.get("access_token", ""),
        "Content-Type": "application/json",
    }
    listed = http.request(
        "GET", f"{base}/admin/api/{SHOPIFY_VERSION}/orders/{request.external_id}"
        "/fulfillment_orders.json",
        operation="shopify.fulfillment_orders", headers=headers,
    )  # fmt: skip
    _refused(listed, "shopify")
    orders = (_json(listed) or {}).get("fulfillment_orders") or []
    open_ids = [o["id"] for o in orders if o.get("status") in ("open", "in_progress")]
    if not open_ids:
        if orders:
            return WriteResult(already_done=True, raw_status="fulfilled")
        raise PlatformError("422", "the order has no fulfillment orders")
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": i} for i in open_ids],
            "tracking_info": {
                "number": request.payload.get("tracking_number") or "",
                "company": request.payload.get("carrier") or "",
            },
            "notify_customer": False,
        }
    }
    created = http.request(
        "POST", f"{base}/admin/api/{SHOPIFY_VERSION}/fulfillments.json",
        operation="shopify.fulfillment_create", json_body=body, headers=headers,
    )  # fmt: skip
    _refused(created, "shopify")
    fulfillment = (_json(created) or {}).get("fulfillment") or {}
    return WriteResult(already_done=False, remote_ref=str(fulfillment.get("id", "")),
                       raw_status="fulfilled")  # fmt: skip


@writers.register("youzan")
def youzan_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """youzan.logistics.online.confirm 3.0.0; "already shipped" counts as done."""
    base = (account.options.get("base_url") or YOUZAN_DEFAULT_BASE_URL).rstrip("/")
    result = http.request(
        "POST", f"{base}/api/youzan.logistics.online.confirm/3.0.0",
        operation="youzan.logistics.online.confirm",
        params={"access_token": account.secrets.get("access_token", "")},
        json_body={"tid": request.external_id, "out_stype": request.payload.get("carrier") or "",
                   "out_sid": request.payload.get("tracking_number") or "", "is_no_express": 0},
    )  # fmt: skip
    _refused(result, "youzan")
    body: Mapping[str, Any] = _json(result) or {}
    if body.get("success"):
        return WriteResult(already_done=False, raw_status="WAIT_BUYER_CONFIRM_GOODS")
    code, message = int(body.get("code") or 0), str(body.get("message", ""))
    if code in YOUZAN_TOKEN_CODES:
        raise TerminalError(f"youzan refused the access token: {code} {message}")
    if ALREADY_SHIPPED_TEXT in message:
        return WriteResult(already_done=True, raw_status="WAIT_BUYER_CONFIRM_GOODS")
    raise PlatformError(str(code), message)


@writers.register("woocommerce")
def woocommerce_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """PUT /wp-json/wc/v3/orders/<id>: status completed and the tracking as order meta. The
    update is idempotent at the shop (the same state written twice changes nothing)."""
    base = (account.options.get("base_url") or account.options.get("site_url") or "").rstrip("/")
    result = http.request(
        "PUT", f"{base}/wp-json/wc/v3/orders/{request.external_id}",
        operation="woocommerce.order_update",
        json_body={"status": "completed", "meta_data": [
            {"key": "_orderhub_tracking_number", "value": request.payload.get("tracking_number")},
            {"key": "_orderhub_carrier", "value": request.payload.get("carrier")},
        ]},
        headers={"Authorization": _basic(account)},
    )  # fmt: skip
    _refused(result, "woocommerce")
    return WriteResult(already_done=False, raw_status="completed")


def _basic(account: AccountConfig) -> str:
    import base64

    pair = f"{account.secrets.get('consumer_key', '')}:{account.secrets.get('consumer_secret', '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
