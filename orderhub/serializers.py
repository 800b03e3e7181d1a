"""Read-only representations of canonical orders for the integration API."""

from __future__ import annotations

from rest_framework import serializers

from orderhub.models import Order, OrderLine, StatusFact


class OrderLineSerializer(serializers.ModelSerializer[OrderLine]):
    class Meta:
        model = OrderLine
        fields = ["line_no", "sku", "title", "quantity", "unit_price", "amount"]


class StatusFactSerializer(serializers.ModelSerializer[StatusFact]):
    class Meta:
        model = StatusFact
        fields = [
            "id", "system", "raw_status", "milestone", "occurred_at", "received_at", "outcome",
            "status_before", "status_after", "skipped", "source_message_id",
        ]  # fmt: skip


ORDER_FIELDS = [
    "id", "channel", "external_id", "status", "status_changed_at", "order_type", "priority",
    "buyer_name", "receiver_name", "country", "province", "city", "district", "address",
    "postal_code", "currency", "goods_amount", "shipping_amount", "discount_amount",
    "tax_amount", "total_amount", "carrier", "tracking_number", "placed_at", "paid_at",
    "ship_by", "shipped_at", "delivered_at", "created_at", "updated_at",
]  # fmt: skip


class OrderListSerializer(serializers.ModelSerializer[Order]):
    class Meta:
        model = Order
        fields = ORDER_FIELDS
        read_only_fields = ORDER_FIELDS


class OrderDetailSerializer(serializers.ModelSerializer[Order]):
    lines = OrderLineSerializer(many=True, read_only=True)
    facts = StatusFactSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [*ORDER_FIELDS, "lines", "facts"]
        read_only_fields = fields
