"""Pinduoduo over HTTP: signed router calls, the increment order list, order detail, and
``pdd.logistics.online.send`` for write-back."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.adapters.pinduoduo.mapping import DEFAULT_BASE_URL, current_raw_status, sign
from channels_app.http import (
    HttpClient,
    PlatformError,
    RateLimitedError,
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

# The increment list takes at most 30 minutes per call, and the window end should stay at
# least 3 minutes behind the platform's clock so late-committed orders are not skipped.
MAX_WINDOW = timedelta(minutes=30)
END_MARGIN = timedelta(minutes=3)
PAGE_SIZE = 100
# Error codes: access token expired or invalid, and call-frequency limits. The router answers
# HTTP 200 with {"error_response": {...}} for both.
TOKEN_ERROR_CODES = frozenset({10019, 10035})
RATE_LIMIT_CODES = frozenset({70031, 70032})
SYSTEM_BUSY_CODES = frozenset({50000, 50001})
ALREADY_SHIPPED_TEXT = "已发货"


class PinduoduoClient:
    def __init__(self, account: AccountConfig, http: HttpClient) -> None:
        self.account = account
        self.http = http
        self.url = account.options.get("base_url") or DEFAULT_BASE_URL
        self.page_size = min(PAGE_SIZE, int(account.options.get("page_size") or PAGE_SIZE))

    def call(self, api: str, params: Mapping[str, Any], *, now: datetime) -> Mapping[str, Any]:
        """One signed router call; returns the ``*_response`` object."""
        form: dict[str, Any] = {
            "type": api,
            "client_id": self.account.options.get("client_id", ""),
            "access_token": self.account.secrets.get("access_token", ""),
            "timestamp": str(int(now.timestamp())),
            "data_type": "JSON",
            "version": "V1",
            **{
                k: (json.dumps(v) if isinstance(v, list | dict) else str(v))
                for k, v in params.items()
                if v is not None
            },
        }
        form["sign"] = sign(form, self.account.secrets.get("client_secret", ""))
        result = self.http.request("POST", self.url, operation=api, data=form)
        try:
            body = result.json() or {}
        except ValueError as exc:
            raise TransientError(f"{api}: unreadable answer") from exc
        error = body.get("error_response") if isinstance(body, Mapping) else None
        if error:
            code = int(error.get("error_code") or 0)
            message = f"{error.get('error_msg', '')} {error.get('sub_msg', '')}".strip()
            if code in TOKEN_ERROR_CODES:
                raise TerminalError(f"pinduoduo refused the access token: {code} {message}")
            if code in RATE_LIMIT_CODES:
                raise RateLimitedError(f"{api}: {code} {message}", retry_after=1.0)
            if code in SYSTEM_BUSY_CODES:
                raise TransientError(f"{api}: {code} {message}")
            raise PlatformError(str(code), message)
        if result.status >= 400:
            raise PlatformError(str(result.status), result.body[:200].decode("utf-8", "replace"))
        for key, value in body.items():
            if key.endswith("_response") and isinstance(value, Mapping):
                return value
        raise TransientError(f"{api}: no response object")

    def increment_page(
        self, start: int, end: int, page: int, *, now: datetime
    ) -> Mapping[str, Any]:
        return self.call(
            "pdd.order.number.list.increment.get",
            {
                "start_updated_at": start,
                "end_updated_at": end,
                "order_status": 5,
                "refund_status": 5,
                "is_lucky_flag": 0,
                "page": page,
                "page_size": self.page_size,
            },
            now=now,
        )

    def order_info(self, order_sn: str, *, now: datetime) -> Mapping[str, Any]:
        response = self.call("pdd.order.information.get", {"order_sn": order_sn}, now=now)
        return response.get("order_info") or {}


def _message(info: Mapping[str, Any], event: str) -> PulledMessage:
    body = json.dumps({"order_info": info}, ensure_ascii=False, separators=(",", ":")).encode()
    return PulledMessage(f"{info['order_sn']}@{info.get('updated_at', '')}", event, body)


class PinduoduoPuller:
    """Cursor ``{"start_next"}`` between windows, ``{"start", "end", "page"}`` inside one.

    A window is paged from the last page backwards (orders updated meanwhile move out of the
    window towards its end, so no order slides past the pages still to read).
    """

    push_batch = 0  # completes no pushes

    def __init__(self, account: AccountConfig, context: PullContext) -> None:
        self.context = context
        self.client = PinduoduoClient(account, HttpClient(on_rate_limited=context.on_rate_limited))
        self.lookback = timedelta(hours=float(account.options.get("lookback_hours") or 24))

    @property
    def _limit(self) -> int:
        return int((self.context.now - END_MARGIN).timestamp())

    def page(self, cursor: Mapping[str, Any], pushes: Sequence[StoredPush] = ()) -> Page:
        now = self.context.now
        if int(cursor.get("page") or 0) >= 1:
            start, end, number = int(cursor["start"]), int(cursor["end"]), int(cursor["page"])
            response = self.client.increment_page(start, end, number, now=now)
            messages = tuple(_message(o, "increment") for o in response.get("order_sn_list") or [])
            if number > 1:
                return Page(messages, {"start": start, "end": end, "page": number - 1}, False)
            return Page(messages, {"start_next": end}, end >= self._limit)
        start = int(cursor.get("start_next") or (now - self.lookback).timestamp())
        end = min(start + int(MAX_WINDOW.total_seconds()), self._limit)
        if end <= start:
            return Page((), dict(cursor), True)
        first = self.client.increment_page(start, end, 1, now=now)
        pages = max(1, math.ceil(int(first.get("total_count") or 0) / self.client.page_size))
        if pages == 1:
            messages = tuple(_message(o, "increment") for o in first.get("order_sn_list") or [])
            return Page(messages, {"start_next": end}, end >= self._limit)
        last = self.client.increment_page(start, end, pages, now=now)
        messages = tuple(_message(o, "increment") for o in last.get("order_sn_list") or [])
        return Page(messages, {"start": start, "end": end, "page": pages - 1}, False)

    def channel_list(self, start: datetime, end: datetime) -> list[ChannelRecord]:
        records: dict[str, ChannelRecord] = {}
        low, high = int(start.timestamp()), int(end.timestamp())
        while low < high:
            window_end = min(low + int(MAX_WINDOW.total_seconds()), high)
            number = 1
            while True:
                response = self.client.increment_page(low, window_end, number, now=self.context.now)
                for info in response.get("order_sn_list") or []:
                    records[str(info["order_sn"])] = ChannelRecord(
                        str(info["order_sn"]), current_raw_status(info)
                    )
                if number * self.client.page_size >= int(response.get("total_count") or 0):
                    break
                number += 1
            low = window_end
        return list(records.values())

    def fetch(self, external_ids: list[str]) -> list[PulledMessage]:
        return [
            _message(self.client.order_info(order_sn, now=self.context.now), "information")
            for order_sn in external_ids
        ]


pullers.add("pinduoduo", PinduoduoPuller)


def _logistics_id(account: AccountConfig, carrier: str) -> str:
    for pair in (account.options.get("logistics_ids") or "").split(","):
        name, _eq, value = pair.partition("=")
        if name.strip().lower() == carrier.lower() and value.strip():
            return value.strip()
    return carrier


@writers.register("pinduoduo")
def pinduoduo_ship_confirm(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """pdd.logistics.online.send. No idempotency key: a re-send first reads the order, and an
    "already shipped" answer is accepted only when the order carries our tracking number."""
    client = PinduoduoClient(account, http)
    now = datetime.now().astimezone()
    tracking = str(request.payload.get("tracking_number") or "")

    def shipped_with_ours() -> bool:
        info = client.order_info(request.external_id, now=now)
        return (
            str(info.get("order_status")) in ("2", "3") and info.get("tracking_number") == tracking
        )

    if request.attempt > 1 and shipped_with_ours():
        return WriteResult(already_done=True, raw_status="order_status:2")
    try:
        client.call(
            "pdd.logistics.online.send",
            {
                "order_sn": request.external_id,
                "tracking_number": tracking,
                "logistics_id": _logistics_id(account, str(request.payload.get("carrier") or "")),
            },
            now=now,
        )
    except PlatformError as exc:
        if ALREADY_SHIPPED_TEXT in exc.message and shipped_with_ours():
            return WriteResult(already_done=True, raw_status="order_status:2")
        raise
    return WriteResult(already_done=False, raw_status="order_status:2")
