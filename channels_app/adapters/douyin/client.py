"""Douyin shop open API over HTTP: signed calls, order detail for pushes that carry only
ids, a periodic ``order.searchList`` as a safety net, and ``logistics.add`` for write-back.

Signing: ``param_json`` is the business parameters as JSON with sorted keys and no spaces;
``sign = hex(hmac_sha256(app_secret, app_secret + "app_key" + app_key + "method" + method +
"param_json" + param_json + "timestamp" + timestamp + "v" + v + app_secret))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.adapters.douyin.detail import current_raw_status
from channels_app.http import HttpClient, PlatformError, TerminalError, TransientError
from channels_app.outbound.base import WriteRequest, WriteResult, writers
from channels_app.parsing import PayloadError, payload_parse
from channels_app.pull.base import (
    PUSH_CURSOR,
    ChannelRecord,
    Page,
    PullContext,
    PulledMessage,
    StoredPush,
    pullers,
)

DEFAULT_BASE_URL = "https://openapi-fxg.jinritemai.com"
SUCCESS_CODE = 10000
# Gateway codes: access token invalid or expired; service busy.
TOKEN_ERROR_CODES = frozenset({30001, 30002})
BUSY_CODES = frozenset({50000, 60000})
ALREADY_SHIPPED_TEXT = "已发货"
PAGE_SIZE = 100
PUSH_BATCH = 50
# The search safety net re-reads from this far behind its last end (late updates).
SEARCH_OVERLAP = timedelta(minutes=2)


def param_json(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(
    *,
    app_key: str,
    app_secret: str,
    method: str,
    params_text: str,
    timestamp: str,
    version: str = "2",
) -> str:
    plain = (
        f"{app_secret}app_key{app_key}method{method}param_json{params_text}"
        f"timestamp{timestamp}v{version}{app_secret}"
    )
    return hmac.new(app_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()


class DouyinClient:
    def __init__(self, account: AccountConfig, http: HttpClient) -> None:
        self.account = account
        self.http = http
        self.base_url = (account.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def call(self, method: str, params: Mapping[str, Any], *, now: datetime) -> Mapping[str, Any]:
        """One signed call; returns ``data``."""
        text = param_json(params)
        timestamp = str(int(now.timestamp()))
        app_key = self.account.options.get("app_key", "")
        query = {
            "app_key": app_key,
            "method": method,
            "access_token": self.account.secrets.get("access_token", ""),
            "timestamp": timestamp,
            "v": "2",
            "sign_method": "hmac-sha256",
            "sign": sign(
                app_key=app_key,
                app_secret=self.account.secrets.get("app_secret", ""),
                method=method,
                params_text=text,
                timestamp=timestamp,
            ),
        }
        result = self.http.request(
            "POST",
            f"{self.base_url}/{method.replace('.', '/')}",
            operation=method,
            params=query,
            data=text.encode(),
            headers={"content-type": "application/json"},
        )
        try:
            body = result.json() or {}
        except ValueError as exc:
            raise TransientError(f"{method}: unreadable answer") from exc
        code = int(body.get("code") or 0) if isinstance(body, Mapping) else 0
        if code == SUCCESS_CODE:
            return body.get("data") or {}
        message = f"{body.get('msg', '')} {body.get('sub_msg', '')}".strip()
        if code in TOKEN_ERROR_CODES:
            raise TerminalError(f"douyin refused the access token: {code} {message}")
        if code in BUSY_CODES:
            raise TransientError(f"{method}: {code} {message}")
        raise PlatformError(str(code), message)

    def order_detail(self, order_id: str, *, now: datetime) -> Mapping[str, Any]:
        data = self.call("order.orderDetail", {"shop_order_id": order_id}, now=now)
        return data.get("shop_order_detail") or {}

    def search_page(self, start: int, end: int, page: int, *, now: datetime) -> Mapping[str, Any]:
        return self.call(
            "order.searchList",
            {
                "update_time_start": start,
                "update_time_end": end,
                "page": page,
                "size": PAGE_SIZE,
                "order_by": "update_time",
                "order_asc": True,
            },
            now=now,
        )


def _message(detail: Mapping[str, Any], event: str) -> PulledMessage:
    body = {"shop_order_detail": detail}
    return PulledMessage(
        f"detail:{detail['order_id']}@{detail.get('update_time', '')}",
        event,
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
    )


def _pushed_order_ids(payload: bytes) -> list[str]:
    try:
        messages = payload_parse(payload, max_bytes=1024 * 1024)
    except PayloadError:
        return []
    ids = []
    for message in messages if isinstance(messages, list) else []:
        data = message.get("data") if isinstance(message, Mapping) else None
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if isinstance(data, Mapping) and data.get("p_id"):
            ids.append(str(data["p_id"]))
    return ids


class DouyinPuller:
    """Cursor ``{"push_id", "search_after", "search_end", "search_page"}``.

    First, the pushes stored since ``push_id`` (they carry ids and a status, not the order;
    the poll service reads them from the inbox and hands them to ``page``) are completed with
    ``order.orderDetail``; then ``order.searchList`` pages through the updates since the last
    search, catching orders whose push never arrived.
    """

    def __init__(self, account: AccountConfig, context: PullContext) -> None:
        self.account = account
        self.context = context
        self.client = DouyinClient(account, HttpClient(on_rate_limited=context.on_rate_limited))
        self.lookback = timedelta(hours=float(account.options.get("lookback_hours") or 24))
        # A push-only shop (no API access granted, so no access token) is never called.
        self.has_api_access = bool(account.secrets.get("access_token"))
        self.push_batch = PUSH_BATCH if self.has_api_access else 0

    def page(self, cursor: Mapping[str, Any], pushes: Sequence[StoredPush] = ()) -> Page:
        if not self.has_api_access:
            return Page((), dict(cursor), True)
        now = self.context.now
        if pushes:
            order_ids = sorted({i for push in pushes for i in _pushed_order_ids(push.payload)})
            messages = tuple(
                _message(self.client.order_detail(order_id, now=now), "orderDetail")
                for order_id in order_ids
            )
            return Page(messages, {**cursor, PUSH_CURSOR: pushes[-1].id}, False)
        page_number = int(cursor.get("search_page") or 0)
        if "search_end" in cursor and page_number > 0:
            start, end = int(cursor["search_after"]), int(cursor["search_end"])
        else:
            start = int(cursor.get("search_after") or (now - self.lookback).timestamp())
            start -= int(SEARCH_OVERLAP.total_seconds()) if cursor.get("search_after") else 0
            end = int(now.timestamp())
            page_number = 0
        data = self.client.search_page(start, end, page_number, now=now)
        orders = data.get("shop_order_list") or []
        messages = tuple(_message(detail, "searchList") for detail in orders)
        if (page_number + 1) * PAGE_SIZE < int(data.get("total") or 0):
            return Page(
                messages,
                {
                    **cursor,
                    "search_after": start,
                    "search_end": end,
                    "search_page": page_number + 1,
                },
                False,
            )
        rest = {k: v for k, v in cursor.items() if k not in ("search_end", "search_page")}
        return Page(messages, {**rest, "search_after": end}, True)

    def channel_list(self, start: datetime, end: datetime) -> list[ChannelRecord]:
        if not self.has_api_access:
            return []
        records = []
        page_number = 0
        while True:
            data = self.client.search_page(
                int(start.timestamp()), int(end.timestamp()), page_number, now=self.context.now
            )
            for detail in data.get("shop_order_list") or []:
                records.append(ChannelRecord(str(detail["order_id"]), current_raw_status(detail)))
            page_number += 1
            if page_number * PAGE_SIZE >= int(data.get("total") or 0):
                return records

    def fetch(self, external_ids: list[str]) -> list[PulledMessage]:
        if not self.has_api_access:
            return []
        return [
            _message(self.client.order_detail(order_id, now=self.context.now), "orderDetail")
            for order_id in external_ids
        ]


pullers.add("douyin", DouyinPuller)


@writers.register("douyin")
def douyin_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """logistics.add. No idempotency key: a re-send first reads the order detail, and an
    "already shipped" answer is accepted only when the order carries our tracking number."""
    client = DouyinClient(account, http)
    now = datetime.now().astimezone()
    tracking = str(request.payload.get("tracking_number") or "")

    def shipped_with_ours() -> bool:
        detail = client.order_detail(request.external_id, now=now)
        return any(
            isinstance(item, Mapping) and item.get("delivery_id") == tracking
            for item in detail.get("logistics_info") or []
        )

    if request.attempt > 1 and shipped_with_ours():
        return WriteResult(already_done=True, raw_status="order_status:3")
    try:
        client.call(
            "logistics.add",
            {
                "order_id": request.external_id,
                "logistics_code": tracking,
                "company_code": str(request.payload.get("carrier") or ""),
            },
            now=now,
        )
    except PlatformError as exc:
        if ALREADY_SHIPPED_TEXT in exc.message and shipped_with_ours():
            return WriteResult(already_done=True, raw_status="order_status:3")
        raise
    return WriteResult(already_done=False, raw_status="order_status:3")
