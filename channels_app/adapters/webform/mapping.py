"""``webform``: OrderHub's own format for the merchant's web site or mini program.

Request::

    POST /hooks/<code>/
    Content-Type: application/json
    X-OrderHub-Timestamp: <unix seconds>
    X-OrderHub-Signature: sha256=<hex HMAC-SHA256(hmac_secret, "<timestamp>." + raw body)>
    X-OrderHub-Delivery: <unique delivery id, repeated on retries>

The timestamp must be within ±300 s of receipt. Body (amounts are decimal strings, times
ISO 8601 with an offset; every field but ``external_id``, ``status`` and ``status_time`` is
optional, and a field left out means "not said")::

    {"external_id": "W1001", "status": "paid", "status_time": "2025-01-02T10:00:00+08:00",
     "placed_at": "...", "paid_at": "...", "test": false, "order_type": "normal",
     "buyer": {"name": "...", "phone": "...", "email": "..."},
     "receiver": {"name": "...", "phone": "..."},
     "address": {"country": "CN", "province": "...", "city": "...", "district": "...",
                 "detail": "...", "postal_code": "..."},
     "currency": "CNY",
     "amounts": {"goods": "98.00", "shipping": "10.00", "discount": "0.00", "tax": "0.00",
                 "total": "108.00"},
     "lines": [{"sku": "SKU-1", "title": "...", "qty": 2, "unit_price": "49.00"}],
     "carrier": "SF", "tracking_number": "SF123", "note": "..."}

``status`` is a canonical milestone name (placed, paid, handed_over, delivered, cancelled,
returned, …). Answer: 200 ``{"ok":true}``; refused: 401 ``{"ok":false,"error":…}``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
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
from orderhub.choices import Milestone, OrderType
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn


def sign(key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def refused(reason: str) -> VerificationError:
    return VerificationError(
        reason, response=common.json_response(401, {"ok": False, "error": reason})
    )


@adapters.register("webform")
class WebformAdapter(ChannelAdapter):
    kind = "webform"
    label = str(_("Own web site / mini program"))
    options = (OptionSpec("hmac_secret", "Shared HMAC-SHA256 secret", secret=True),)
    default_status_map = {milestone.value: milestone.value for milestone in Milestone}

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        timestamp = common.header(request, "X-OrderHub-Timestamp")
        given = common.header(request, "X-OrderHub-Signature")
        if not timestamp or not given:
            raise refused("missing X-OrderHub-Timestamp or X-OrderHub-Signature header")
        try:
            common.check_window(
                request, common.unix_seconds_header(timestamp, "X-OrderHub-Timestamp")
            )
        except VerificationError as error:
            raise refused(error.reason) from None
        expected = sign(common.secret(account, "hmac_secret"), timestamp, request.body)
        if not common.same(expected, given):
            raise refused("X-OrderHub-Signature does not match")
        return Verified(
            delivery_id=common.header(request, "X-OrderHub-Delivery")[:128],
            event_type="order",
            payload=request.body,
            response=HookResponse(status=200, body=b'{"ok":true}'),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        body = common.mapping(payload, "body")
        status = common.text(body.get("status"), "status", max_length=64)
        when = common.iso_time(body.get("status_time"), "status_time")
        if when.utcoffset() is None:
            raise NormalizeError("status_time: an offset is required")
        buyer = common.mapping(body.get("buyer") or {}, "buyer")
        receiver = common.mapping(body.get("receiver") or {}, "receiver")
        address = common.mapping(body.get("address") or {}, "address")
        amounts = common.mapping(body.get("amounts") or {}, "amounts")
        lines = None
        if "lines" in body:
            lines = tuple(
                NormalizedLine(
                    line_no=index + 1,
                    sku=common.text(item.get("sku"), f"lines[{index}].sku", max_length=64),
                    quantity=common.quantity(item.get("qty"), f"lines[{index}].qty"),
                    unit_price=common.money(item.get("unit_price"), f"lines[{index}].unit_price"),
                    title=common.optional_text(item.get("title"), f"lines[{index}].title") or "",
                )
                for index, item in (
                    (i, common.mapping(raw, f"lines[{i}]"))
                    for i, raw in enumerate(common.sequence(body["lines"], "lines"))
                )
            )
        order_type = common.optional_text(body.get("order_type"), "order_type", max_length=16)
        if order_type is not None and order_type not in OrderType.values:
            raise NormalizeError(f"order_type: {order_type!r} is not one of {OrderType.values}")
        country = common.optional_text(address.get("country"), "address.country", max_length=2)
        test = body.get("test", False)
        if not isinstance(test, bool):
            raise NormalizeError("test: expected true or false")

        def field(source: Any, name: str, path: str, max_length: int = 500) -> str | None:
            return common.optional_text(source.get(name), path, max_length=max_length)

        return [
            NormalizedOrder(
                channel=account.code,
                external_id=common.text(body.get("external_id"), "external_id", max_length=128),
                buyer_name=field(buyer, "name", "buyer.name", 200),
                buyer_phone=field(buyer, "phone", "buyer.phone", 32),
                buyer_email=field(buyer, "email", "buyer.email", 254),
                receiver_name=field(receiver, "name", "receiver.name", 200),
                receiver_phone=field(receiver, "phone", "receiver.phone", 32),
                country=country.upper() if country else None,
                province=field(address, "province", "address.province", 64),
                city=field(address, "city", "address.city", 64),
                district=field(address, "district", "address.district", 64),
                address=field(address, "detail", "address.detail"),
                postal_code=field(address, "postal_code", "address.postal_code", 16),
                currency=field(body, "currency", "currency", 3),
                goods_amount=common.optional_money(amounts.get("goods"), "amounts.goods"),
                shipping_amount=common.optional_money(amounts.get("shipping"), "amounts.shipping"),
                discount_amount=common.optional_money(amounts.get("discount"), "amounts.discount"),
                tax_amount=common.optional_money(amounts.get("tax"), "amounts.tax"),
                total_amount=common.optional_money(amounts.get("total"), "amounts.total"),
                order_type=order_type,
                carrier=field(body, "carrier", "carrier", 64),
                tracking_number=field(body, "tracking_number", "tracking_number", 64),
                buyer_note=field(body, "note", "note", 2000),
                placed_at=common.optional_iso_time(body.get("placed_at"), "placed_at"),
                paid_at=common.optional_iso_time(body.get("paid_at"), "paid_at"),
                lines=lines,
                facts=(StatusFactIn(account.system, status, None, when),),
                is_test=test,
            )
        ]
