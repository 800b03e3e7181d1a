"""WooCommerce order webhooks (REST API v3 order resource as read at delivery time).

Signature: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, raw body)).
Delivery id: ``X-WC-Webhook-Delivery-ID``. WooCommerce never retries and signs no timestamp.
Activation ping: a form body ``webhook_id=<n>`` with no signature header; it must be answered
200 or the webhook is not activated, and it is never processed.

One fact per delivery: the order ``status`` at ``date_modified_gmt`` (UTC without offset).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    HookResponse,
    InboundRequest,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn

PING = re.compile(rb"webhook_id=\d{1,20}")


@adapters.register("woocommerce")
class WooCommerceAdapter(ChannelAdapter):
    kind = "woocommerce"
    label = str(_("WooCommerce"))
    options = (
        OptionSpec("webhook_secret", "The webhook's secret (HTML entities undone)", secret=True),
        OptionSpec(
            "site_url",
            "The shop's home URL (X-WC-Webhook-Source, checked when given)",
            required=False,
        ),
        # Write-back (channels_app.outbound.shop_writers).
        OptionSpec(
            "consumer_key", "REST API consumer key (write-back)", required=False, secret=True
        ),
        OptionSpec(
            "consumer_secret", "REST API consumer secret (write-back)", required=False, secret=True
        ),
        OptionSpec("base_url", "REST API base URL (default site_url)", required=False),
    )
    default_status_map = {
        "pending": Milestone.PLACED,
        "on-hold": Milestone.PLACED,
        "processing": Milestone.PAID,
        # "Order fulfilled and complete": merchants mark it when the parcel leaves.
        "completed": Milestone.HANDED_OVER,
        "cancelled": Milestone.CANCELLED,
        "failed": Milestone.CANCELLED,
        # Statuses commonly registered by shipment-tracking extensions.
        "shipped": Milestone.HANDED_OVER,
        "delivered": Milestone.DELIVERED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        signature = common.header(request, "X-WC-Webhook-Signature")
        if not signature and PING.fullmatch(request.body.strip()):
            return Verified(
                delivery_id="",
                event_type="ping",
                payload=request.body,
                response=HookResponse(status=200, body=b""),
                process=False,
            )
        if not signature:
            raise VerificationError("missing X-WC-Webhook-Signature header")
        expected = common.hmac_sha256_b64(common.secret(account, "webhook_secret"), request.body)
        if not common.same(expected, signature):
            raise VerificationError("X-WC-Webhook-Signature does not match the body")
        site = account.options.get("site_url", "")
        if site and common.header(request, "X-WC-Webhook-Source").rstrip("/") != site.rstrip("/"):
            raise VerificationError("X-WC-Webhook-Source is not this account's site")
        return Verified(
            delivery_id=common.header(request, "X-WC-Webhook-Delivery-ID"),
            event_type=common.header(request, "X-WC-Webhook-Topic"),
            payload=request.body,
            response=HookResponse(status=200, body=b""),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        order = common.mapping(payload, "body")
        if set(order) <= {"id"}:
            return []  # order.deleted carries the id only
        external_id = common.text(order.get("id"), "id", max_length=128)
        status = common.text(order.get("status"), "status", max_length=64)
        modified = common.iso_time(order.get("date_modified_gmt"), "date_modified_gmt")
        billing = common.mapping(order.get("billing") or {}, "billing")
        shipping = common.mapping(order.get("shipping") or {}, "shipping")
        lines = []
        for index, raw in enumerate(common.sequence(order.get("line_items"), "line_items")):
            path = f"line_items[{index}]"
            item = common.mapping(raw, path)
            count = common.quantity(item.get("quantity"), f"{path}.quantity")
            # ``price`` is a float-ish number; subtotal/qty is the exact unit price before
            # coupons, as a decimal string.
            subtotal = common.money(item.get("subtotal"), f"{path}.subtotal")
            sku = common.optional_text(item.get("sku"), f"{path}.sku", max_length=64)
            lines.append(
                NormalizedLine(
                    line_no=index + 1,
                    sku=sku or common.text(item.get("product_id"), f"{path}.product_id"),
                    quantity=count,
                    unit_price=(subtotal / count).quantize(common.CENT),
                    title=common.optional_text(item.get("name"), f"{path}.name") or "",
                )
            )
        total = common.optional_money(order.get("total"), "total")
        shipping_total = common.optional_money(order.get("shipping_total"), "shipping_total")
        goods = sum((line.amount for line in lines), start=common.CENT * 0)
        country = common.optional_text(shipping.get("country"), "shipping.country", max_length=2)
        street = ", ".join(
            part
            for part in (shipping.get("address_1"), shipping.get("address_2"))
            if isinstance(part, str) and part
        )
        return [
            NormalizedOrder(
                channel=account.code,
                external_id=external_id,
                buyer_name=common.join_name(billing.get("first_name"), billing.get("last_name")),
                buyer_phone=common.optional_text(
                    billing.get("phone"), "billing.phone", max_length=32
                ),
                buyer_email=common.optional_text(
                    billing.get("email"), "billing.email", max_length=254
                ),
                receiver_name=common.join_name(
                    shipping.get("first_name"), shipping.get("last_name")
                ),
                receiver_phone=common.optional_text(
                    shipping.get("phone"), "shipping.phone", max_length=32
                ),
                country=country.upper() if country else None,
                province=common.optional_text(shipping.get("state"), "shipping.state"),
                city=common.optional_text(shipping.get("city"), "shipping.city"),
                address=street or None,
                postal_code=common.optional_text(shipping.get("postcode"), "shipping.postcode"),
                currency=common.optional_text(order.get("currency"), "currency", max_length=3),
                goods_amount=goods if lines else None,
                shipping_amount=shipping_total,
                discount_amount=common.optional_money(
                    order.get("discount_total"), "discount_total"
                ),
                tax_amount=common.optional_money(order.get("total_tax"), "total_tax"),
                total_amount=total,
                buyer_note=common.optional_text(
                    order.get("customer_note"), "customer_note", max_length=2000
                ),
                placed_at=common.optional_iso_time(
                    order.get("date_created_gmt"), "date_created_gmt"
                ),
                paid_at=common.optional_iso_time(order.get("date_paid_gmt"), "date_paid_gmt"),
                lines=tuple(lines),
                facts=(StatusFactIn(account.system, status, None, modified),),
            )
        ]
