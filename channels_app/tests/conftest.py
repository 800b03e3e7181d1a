"""A tiny HMAC adapter registered for the duration of a test, and helpers to sign for it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    HookResponse,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from channels_app.models import ChannelAccount
from channels_app.services import channel_account_create
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

TEST_KIND = "test_hmac"
TEST_SECRET = "s3cret-key"


class HmacTestAdapter(ChannelAdapter):
    """Body ``{"orders": [{"id", "status", "at", "lines"?, "test"?, "phone"?}]}``."""

    kind = TEST_KIND
    label = "Test HMAC"
    options = (
        OptionSpec("secret", "signing secret", secret=True),
        OptionSpec("region", "a plain option", required=False),
    )
    default_status_map = {"CREATED": "placed", "PAID": "paid", "SHIPPED": "handed_over"}

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        given = request.headers.get("x-test-signature", "")
        expected = hmac.new(
            account.secrets["secret"].encode(), request.body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise VerificationError("signature mismatch")
        if request.headers.get("x-test-event") == "ping":
            return Verified("", "ping", request.body, HookResponse(200, b"pong"), process=False)
        return Verified(
            delivery_id=request.headers.get("x-test-delivery", ""),
            event_type=request.headers.get("x-test-event", "order"),
            payload=request.body,
            response=HookResponse(200, b'{"ok":true}'),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
            raise NormalizeError("orders missing")
        result = []
        for item in payload["orders"]:
            if not item.get("id"):
                raise NormalizeError("order id missing")
            at = datetime.fromisoformat(item["at"])
            lines = None
            if "lines" in item:
                lines = tuple(
                    NormalizedLine(
                        line_no=n + 1,
                        sku=line["sku"],
                        quantity=int(line["qty"]),
                        unit_price=Decimal(line["price"]),
                    )
                    for n, line in enumerate(item["lines"])
                )
            result.append(
                NormalizedOrder(
                    channel=account.code,
                    external_id=str(item["id"]),
                    buyer_phone=item.get("phone"),
                    buyer_name=item.get("name"),
                    total_amount=item.get("total"),
                    lines=lines,
                    facts=(StatusFactIn(account.system, item["status"], None, at),),
                    is_test=bool(item.get("test")),
                )
            )
        return result


@pytest.fixture
def test_adapter() -> Iterator[type[HmacTestAdapter]]:
    adapters.add(TEST_KIND, HmacTestAdapter)
    try:
        yield HmacTestAdapter
    finally:
        adapters._entries.pop(TEST_KIND, None)


@pytest.fixture
def account(test_adapter: type[HmacTestAdapter]) -> ChannelAccount:
    return channel_account_create(
        kind=TEST_KIND, code="test-shop", options={}, secrets={"secret": TEST_SECRET}
    )


def sign(body: bytes, secret: str = TEST_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def order_body(*orders: dict[str, Any]) -> bytes:
    return json.dumps({"orders": list(orders)}, separators=(",", ":")).encode()


def hook_headers(body: bytes, delivery: str = "", **extra: str) -> dict[str, str]:
    headers = {"x-test-signature": sign(body), "content-type": "application/json"}
    if delivery:
        headers["x-test-delivery"] = delivery
    headers.update(extra)
    return headers
