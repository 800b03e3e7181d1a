"""Amazon SP-API Orders v0, pulled (no HTTP push: notifications go to SQS/EventBridge).

The poller stores one inbox message per order version: ``{"order", "items", "address"}``
as returned by getOrders, getOrderItems and getOrderAddress. Times are ISO 8601 UTC;
money is ``{"CurrencyCode", "Amount"}`` with the amount as a string; ``ItemPrice`` is price
x quantity. One fact per message: ``OrderStatus`` at ``LastUpdateDate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

DEFAULT_BASE_URL = "https://sellingpartnerapi-na.amazon.com"
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL


@adapters.register("amazon")
class AmazonAdapter(ChannelAdapter):
    kind = "amazon"
    label = str(_("Amazon (SP-API, pulled)"))
    options = (
        OptionSpec("client_id", "LWA client id (amzn1.application-oa2-client...)"),
        OptionSpec("client_secret", "LWA client secret", secret=True),
        OptionSpec("refresh_token", "LWA refresh token (Atzr|...)", secret=True),
        OptionSpec("marketplace_ids", "Comma-separated marketplace ids"),
        OptionSpec("base_url", f"SP-API endpoint (default {DEFAULT_BASE_URL})", required=False),
        OptionSpec(
            "token_url", f"LWA token endpoint (default {DEFAULT_TOKEN_URL})", required=False
        ),
        OptionSpec("page_size", "MaxResultsPerPage, 1-100 (default 100)", required=False),
        OptionSpec(
            "lookback_hours", "First poll starts this far back (default 24)", required=False
        ),
    )
    default_status_map = {
        "Pending": Milestone.PLACED,
        "PendingAvailability": Milestone.PLACED,
        "Unshipped": Milestone.PAID,
        "PartiallyShipped": Milestone.HANDED_OVER,
        "Shipped": Milestone.HANDED_OVER,
        "InvoiceUnconfirmed": Milestone.HANDED_OVER,
        "Canceled": Milestone.CANCELLED,
        "Unfulfillable": "",
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        raise VerificationError("amazon accounts are pulled; there is no webhook")

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        body = common.mapping(payload, "body")
        return [order_normalize(account, body)]


def _amount(value: Any, path: str) -> Decimal | None:
    if not value:
        return None
    return common.money(common.mapping(value, path).get("Amount"), f"{path}.Amount")


def order_normalize(account: AccountConfig, body: Mapping[str, Any]) -> NormalizedOrder:
    order = common.mapping(body.get("order"), "order")
    external_id = common.text(order.get("AmazonOrderId"), "order.AmazonOrderId", max_length=64)
    status = common.text(order.get("OrderStatus"), "order.OrderStatus", max_length=64)
    updated = common.iso_time(order.get("LastUpdateDate"), "order.LastUpdateDate")
    total = order.get("OrderTotal") or {}
    lines = None
    items = body.get("items")
    if isinstance(items, list) and items:
        parsed = []
        for index, raw in enumerate(items):
            path = f"items[{index}]"
            item = common.mapping(raw, path)
            quantity = common.quantity(item.get("QuantityOrdered"), f"{path}.QuantityOrdered")
            price = _amount(item.get("ItemPrice"), f"{path}.ItemPrice") or Decimal("0.00")
            parsed.append(
                NormalizedLine(
                    line_no=index + 1,
                    sku=common.text(
                        item.get("SellerSKU") or item.get("ASIN"),
                        f"{path}.SellerSKU",
                        max_length=64,
                    ),
                    quantity=quantity,
                    unit_price=(price / quantity).quantize(Decimal("0.01")),
                    title=(common.optional_text(item.get("Title"), f"{path}.Title") or "")[:255],
                )
            )
        lines = tuple(parsed)
    address = body.get("address") or order.get("ShippingAddress") or {}
    if not isinstance(address, Mapping):
        raise NormalizeError("address: expected an object")
    if "ShippingAddress" in address:
        address = common.mapping(address["ShippingAddress"], "address.ShippingAddress")
    street = common.join_name(
        address.get("AddressLine1"), address.get("AddressLine2"), address.get("AddressLine3")
    )
    return NormalizedOrder(
        channel=account.code,
        external_id=external_id,
        receiver_name=common.optional_text(address.get("Name"), "address.Name"),
        receiver_phone=common.optional_text(address.get("Phone"), "address.Phone", max_length=32),
        country=common.optional_text(
            address.get("CountryCode"), "address.CountryCode", max_length=2
        ),
        province=common.optional_text(
            address.get("StateOrRegion"), "address.StateOrRegion", max_length=64
        ),
        city=common.optional_text(address.get("City"), "address.City", max_length=64),
        address=street,
        postal_code=common.optional_text(
            address.get("PostalCode"), "address.PostalCode", max_length=16
        ),
        currency=common.optional_text(
            total.get("CurrencyCode"), "order.OrderTotal.CurrencyCode", max_length=3
        )
        if isinstance(total, Mapping)
        else None,
        total_amount=_amount(total, "order.OrderTotal"),
        placed_at=common.optional_iso_time(order.get("PurchaseDate"), "order.PurchaseDate"),
        ship_by=common.optional_iso_time(order.get("LatestShipDate"), "order.LatestShipDate"),
        lines=lines,
        facts=(StatusFactIn(account.system, status, None, updated),),
    )
