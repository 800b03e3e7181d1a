"""Shopify order webhooks (``orders/*``, REST order resource as the body, not wrapped).

Signature: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(webhook secret, raw body)).
Delivery id: ``X-Shopify-Webhook-Id`` (one per delivery; retries repeat it). Shopify signs no
timestamp, so there is no window; a replay is caught by the delivery id and the body hash.

Every order body is a full snapshot, so facts are read from it rather than from the topic:
``financial_status:<v>`` and ``fulfillment_status:<v>`` at ``updated_at``, ``cancelled`` at
``cancelled_at``, and per fulfillment ``fulfillment:<status>`` / ``shipment_status:<v>`` at
the fulfillment's ``updated_at``.

``refunds/create`` (the REST Refund resource: ``id, order_id, created_at, processed_at,
note, refund_line_items, transactions``) and ``disputes/create|update`` (the REST Dispute
resource: ``id, order_id, type, amount, currency, reason, network_reason_code, status,
evidence_due_by, evidence_sent_on, finalized_on, initiated_at``) are no order snapshots:
they write nothing about the order and report a return per refund and a complaint per
dispute (``feedback``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    FEEDBACK_COMPLAINT,
    FEEDBACK_RETURN,
    AccountConfig,
    ChannelAdapter,
    FeedbackReport,
    HookResponse,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn


@adapters.register("shopify")
class ShopifyAdapter(ChannelAdapter):
    kind = "shopify"
    label = str(_("Shopify"))
    options = (
        OptionSpec(
            "webhook_secret", "App client secret (or the admin webhook signing secret)", secret=True
        ),
        OptionSpec(
            "shop_domain", "The *.myshopify.com domain (checked when given)", required=False
        ),
        # Write-back (channels_app.outbound.shop_writers).
        OptionSpec(
            "access_token", "Admin API access token (write-back)", required=False, secret=True
        ),
        OptionSpec(
            "base_url", "Admin API base URL (default https://<shop_domain>)", required=False
        ),
    )
    default_status_map = {
        "financial_status:pending": Milestone.PLACED,
        "financial_status:authorized": Milestone.PLACED,
        "financial_status:paid": Milestone.PAID,
        # A tracking number was entered: the waybill exists, the parcel may not have moved.
        "fulfillment_status:fulfilled": Milestone.WAYBILL_ISSUED,
        "fulfillment:success": Milestone.WAYBILL_ISSUED,
        "shipment_status:label_printed": Milestone.WAYBILL_ISSUED,
        "shipment_status:label_purchased": Milestone.WAYBILL_ISSUED,
        "shipment_status:carrier_picked_up": Milestone.COLLECTED,
        "shipment_status:in_transit": Milestone.COLLECTED,
        "shipment_status:out_for_delivery": Milestone.COLLECTED,
        "shipment_status:delivered": Milestone.DELIVERED,
        "cancelled": Milestone.CANCELLED,
        # The authorization was voided: no payment will come; Shopify sets it on cancel.
        "financial_status:voided": Milestone.CANCELLED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        signature = common.header(request, "X-Shopify-Hmac-Sha256")
        if not signature:
            raise VerificationError("missing X-Shopify-Hmac-Sha256 header")
        expected = common.hmac_sha256_b64(common.secret(account, "webhook_secret"), request.body)
        if not common.same(expected, signature):
            raise VerificationError("X-Shopify-Hmac-Sha256 does not match the body")
        domain = account.options.get("shop_domain", "")
        if domain and common.header(request, "X-Shopify-Shop-Domain") != domain:
            raise VerificationError("X-Shopify-Shop-Domain is not this account's shop")
        return Verified(
            delivery_id=common.header(request, "X-Shopify-Webhook-Id"),
            event_type=common.header(request, "X-Shopify-Topic"),
            payload=request.body,
            response=HookResponse(status=200, body=b""),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        order = common.mapping(payload, "body")
        if set(order) <= {"id"}:
            return []  # orders/delete carries the id only: nothing to say about the order
        if _is_refund(order) or _is_dispute(order):
            # No order snapshot; an unreadable one fails here, terminally, not in ``feedback``.
            self.feedback(account, payload, event_type="")
            return []
        external_id = common.text(order.get("id"), "id", max_length=128)
        updated_at = common.iso_time(order.get("updated_at"), "updated_at")
        facts: list[StatusFactIn] = []

        def fact(raw: str, when: Any) -> None:
            facts.append(StatusFactIn(account.system, raw, None, when))

        financial = common.optional_text(order.get("financial_status"), "financial_status")
        if financial:
            fact(f"financial_status:{financial}", updated_at)
        fulfillment = common.optional_text(order.get("fulfillment_status"), "fulfillment_status")
        if fulfillment:
            fact(f"fulfillment_status:{fulfillment}", updated_at)
        cancelled_at = common.optional_iso_time(order.get("cancelled_at"), "cancelled_at")
        if cancelled_at:
            fact("cancelled", cancelled_at)

        carrier = tracking = None
        for index, raw in enumerate(
            common.sequence(order.get("fulfillments") or [], "fulfillments")
        ):
            path = f"fulfillments[{index}]"
            item = common.mapping(raw, path)
            when = common.iso_time(item.get("updated_at"), f"{path}.updated_at")
            status = common.optional_text(item.get("status"), f"{path}.status")
            if status:
                fact(f"fulfillment:{status}", when)
            shipment = common.optional_text(item.get("shipment_status"), f"{path}.shipment_status")
            if shipment:
                fact(f"shipment_status:{shipment}", when)
            carrier = common.optional_text(item.get("tracking_company"), f"{path}.tracking_company")
            tracking = common.optional_text(item.get("tracking_number"), f"{path}.tracking_number")

        address = common.mapping(order.get("shipping_address") or {}, "shipping_address")
        customer = common.mapping(order.get("customer") or {}, "customer")
        lines = []
        for index, raw in enumerate(common.sequence(order.get("line_items"), "line_items")):
            path = f"line_items[{index}]"
            item = common.mapping(raw, path)
            sku = common.optional_text(item.get("sku"), f"{path}.sku", max_length=64)
            lines.append(
                NormalizedLine(
                    line_no=index + 1,
                    sku=sku or common.text(item.get("variant_id"), f"{path}.variant_id"),
                    quantity=common.quantity(item.get("quantity"), f"{path}.quantity"),
                    unit_price=common.money(item.get("price"), f"{path}.price"),
                    title=common.optional_text(item.get("name"), f"{path}.name") or "",
                )
            )
        shipping = None
        shipping_set = order.get("total_shipping_price_set")
        if shipping_set is not None:
            shop_money = common.mapping(
                common.mapping(shipping_set, "total_shipping_price_set").get("shop_money"),
                "total_shipping_price_set.shop_money",
            )
            shipping = common.money(shop_money.get("amount"), "total_shipping_price_set.amount")
        country = common.optional_text(address.get("country_code"), "shipping_address.country_code")
        if country is not None and len(country) != 2:
            raise NormalizeError(f"shipping_address.country_code: {country!r} is not ISO 3166-1")
        street = ", ".join(
            part
            for part in (address.get("address1"), address.get("address2"))
            if isinstance(part, str) and part
        )
        return [
            NormalizedOrder(
                channel=account.code,
                external_id=external_id,
                buyer_name=common.join_name(customer.get("first_name"), customer.get("last_name")),
                buyer_phone=common.optional_text(order.get("phone"), "phone", max_length=32),
                buyer_email=common.optional_text(order.get("email"), "email", max_length=254),
                receiver_name=common.optional_text(address.get("name"), "shipping_address.name"),
                receiver_phone=common.optional_text(
                    address.get("phone"), "shipping_address.phone", max_length=32
                ),
                country=country.upper() if country else None,
                province=common.optional_text(address.get("province"), "shipping_address.province"),
                city=common.optional_text(address.get("city"), "shipping_address.city"),
                address=street or None,
                postal_code=common.optional_text(address.get("zip"), "shipping_address.zip"),
                currency=common.optional_text(order.get("currency"), "currency", max_length=3),
                goods_amount=common.optional_money(
                    order.get("total_line_items_price"), "total_line_items_price"
                ),
                shipping_amount=shipping,
                discount_amount=common.optional_money(
                    order.get("total_discounts"), "total_discounts"
                ),
                tax_amount=common.optional_money(order.get("total_tax"), "total_tax"),
                total_amount=common.optional_money(order.get("total_price"), "total_price"),
                carrier=carrier,
                tracking_number=tracking,
                buyer_note=common.optional_text(order.get("note"), "note", max_length=2000),
                placed_at=common.optional_iso_time(order.get("created_at"), "created_at"),
                lines=tuple(lines),
                facts=tuple(facts),
                is_test=order.get("test") is True,
            )
        ]

    def feedback_expected(self, event_type: str) -> bool:
        return not event_type or event_type.startswith(FEEDBACK_TOPICS)

    def feedback(
        self, account: AccountConfig, payload: Any, *, event_type: str
    ) -> Sequence[FeedbackReport]:
        body = common.mapping(payload, "body")
        if _is_refund(body):
            return [refund_report(body)]
        if _is_dispute(body):
            return [dispute_report(body)]
        return []


FEEDBACK_TOPICS = ("refunds/", "disputes/")


def _is_refund(body: Mapping[str, Any]) -> bool:
    return "refund_line_items" in body and "line_items" not in body


def _is_dispute(body: Mapping[str, Any]) -> bool:
    return "order_id" in body and "network_reason_code" in body and "line_items" not in body


def refund_report(body: Mapping[str, Any]) -> FeedbackReport:
    """A refund is a return that is done when it is reported (Shopify has no refund state)."""
    created = common.iso_time(body.get("created_at"), "created_at")
    processed = common.optional_iso_time(body.get("processed_at"), "processed_at")
    amounts = []
    for index, raw in enumerate(common.sequence(body.get("transactions") or [], "transactions")):
        item = common.mapping(raw, f"transactions[{index}]")
        if item.get("kind") == "refund" and item.get("status") in (None, "success"):
            amounts.append(common.money(item.get("amount"), f"transactions[{index}].amount"))
    detail: dict[str, Any] = {"lines": len(common.sequence(body.get("refund_line_items"),
                                                            "refund_line_items"))}  # fmt: skip
    if amounts:
        detail["amount"] = str(sum(amounts))
    if "restock" in body:
        detail["restock"] = body.get("restock")
    return FeedbackReport(
        external_order_id=common.text(body.get("order_id"), "order_id", max_length=128),
        kind=FEEDBACK_RETURN,
        external_id=common.text(body.get("id"), "id", max_length=64),
        status="refunded",
        status_at=processed or created,
        opened_at=created,
        reason=common.optional_text(body.get("note"), "note") or "",
        detail=detail,
    )


def dispute_report(body: Mapping[str, Any]) -> FeedbackReport:
    """A dispute (an inquiry or chargeback the buyer opened with their bank) is a complaint;
    its ``status`` moves on (needs_response, under_review, won, lost...). The resource has no
    update time, so a later status is ordered by receipt."""
    detail = {
        name: body[name]
        for name in ("type", "amount", "currency", "network_reason_code", "evidence_due_by",
                     "finalized_on")
        if body.get(name) is not None
    }  # fmt: skip
    return FeedbackReport(
        external_order_id=common.text(body.get("order_id"), "order_id", max_length=128),
        kind=FEEDBACK_COMPLAINT,
        external_id=common.text(body.get("id"), "id", max_length=64),
        status=common.text(body.get("status"), "status", max_length=32),
        opened_at=common.optional_iso_time(body.get("initiated_at"), "initiated_at"),
        reason=common.optional_text(body.get("reason"), "reason") or "",
        detail={name: str(value) for name, value in detail.items()},
    )
