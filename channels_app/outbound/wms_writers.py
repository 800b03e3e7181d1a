"""Write-back to a warehouse management system: the intercept request (stop an order the
channel cancelled while the warehouse works on it).

Wire format (the WMS's order API; the sandbox plays it): ``GET {base_url}/wms/v1/orders/{id}``
answers ``{"order_no", "status"}`` (the check before a re-send: ``INTERCEPTED`` means done);
``POST {base_url}/wms/v1/orders/{id}/intercept`` with ``{"order_no", "reason", "request_id"}``
answers 200 ``{"code": 0, "status": "INTERCEPTED"}`` or 409 ``{"code": 4091, "status":
"SHIPPED", "message": ...}`` when the parcel has already left. The account's ``api_token``
secret goes in ``X-WMS-Token``. Account option ``base_url`` is required for this writer.
"""

from __future__ import annotations

from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.http import HttpClient, HttpResult, PlatformError, TerminalError
from channels_app.outbound.base import ACTION_INTERCEPT, WriteRequest, WriteResult, writers

INTERCEPTED = "INTERCEPTED"


def _json(result: HttpResult) -> dict[str, Any]:
    try:
        body = result.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _checked(result: HttpResult) -> dict[str, Any]:
    if result.status in (401, 403):
        raise TerminalError(f"the WMS refused the token: HTTP {result.status}")
    body = _json(result)
    if result.status >= 400:
        status = str(body.get("status", ""))
        message = str(body.get("message", "")) or result.body[:300].decode("utf-8", "replace")
        raise PlatformError(str(body.get("code", result.status)), f"{status} {message}".strip())
    return body


@writers.register("wms")
def wms_intercept(account: AccountConfig, http: HttpClient, request: WriteRequest) -> WriteResult:
    """Ask the WMS to stop the order; an order it reports intercepted already is done."""
    if request.action != ACTION_INTERCEPT:
        raise ValueError(f"the WMS writer sends intercepts only, not {request.action!r}")
    base = account.options.get("base_url", "").rstrip("/")
    if not base:
        raise ValueError(f"WMS account {account.code} has no base_url option")
    headers = {"X-WMS-Token": account.secrets.get("api_token", "")}
    url = f"{base}/wms/v1/orders/{request.external_id}"
    current = _checked(http.request("GET", url, operation="wms.order_get", headers=headers))
    if current.get("status") == INTERCEPTED:
        return WriteResult(already_done=True, raw_status=INTERCEPTED)
    answer = _checked(
        http.request(
            "POST",
            f"{url}/intercept",
            operation="wms.intercept",
            headers=headers,
            json_body={
                "order_no": request.external_id,
                "reason": str(request.payload.get("reason", "cancelled on the channel")),
                "request_id": request.idempotency_key,
            },
        )
    )
    return WriteResult(
        already_done=False,
        remote_ref=str(answer.get("intercept_id", "")),
        raw_status=str(answer.get("status", INTERCEPTED)),
    )
