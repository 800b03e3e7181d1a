"""Read-only representations of canonical orders for the integration API."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers

from health.models import Anomaly
from orderhub.models import Order, OrderLine, StatusFact, TrackingEvent, Warehouse


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with ``Z`` (``2008-01-10T16:00:00Z``), whatever the display time zone.

    Never fails on a stored time: one that cannot be converted (near year 9999) is rendered
    with its own offset instead of answering an error.
    """

    def to_representation(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, datetime):
            return str(value)
        with contextlib.suppress(OverflowError, ValueError):
            value = value.astimezone(UTC)
        return value.isoformat().replace("+00:00", "Z")


_M = TypeVar("_M", bound=models.Model)


class _ModelSerializer(serializers.ModelSerializer[_M]):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }


class OrderLineSerializer(serializers.ModelSerializer[OrderLine]):
    class Meta:
        model = OrderLine
        fields = ["line_no", "sku", "title", "quantity", "unit_price", "amount"]


class StatusFactSerializer(_ModelSerializer[StatusFact]):
    class Meta:
        model = StatusFact
        fields = [
            "id", "system", "raw_status", "milestone", "occurred_at", "received_at", "outcome",
            "status_before", "status_after", "skipped", "source_message_id",
        ]  # fmt: skip


class TrackingEventSerializer(_ModelSerializer[TrackingEvent]):
    class Meta:
        model = TrackingEvent
        fields = [
            "id", "system", "carrier", "tracking_number", "occurred_at", "received_at", "stage",
            "raw_state", "raw_substate", "milestone", "description", "location",
        ]  # fmt: skip


class AnomalySerializer(_ModelSerializer[Anomaly]):
    """An anomaly the consistency engine opened (``resolution`` "" while it is open;
    ``actions`` the auto-repair runs, ``resolved_by_action`` the one whose answer closed it,
    ``escalate_at`` when people are to be alerted if it is still open)."""

    class Meta:
        model = Anomaly
        fields = [
            "id", "kind", "subject_key", "opened_at", "evidence_at", "deadline", "resolved_at",
            "resolution", "resolved_note", "evidence", "actions", "resolved_by_action",
            "escalate_at",
        ]  # fmt: skip


# Each milestone time is the source's clock; its ``*_received_at`` is when OrderHub learned it.
ORDER_FIELDS = [
    "id", "channel", "external_id", "status", "status_changed_at", "order_type", "priority",
    "buyer_name", "receiver_name", "country", "province", "city", "district", "address",
    "postal_code", "currency", "goods_amount", "shipping_amount", "discount_amount",
    "tax_amount", "total_amount", "warehouse", "carrier", "tracking_number",
    "placed_at", "placed_received_at", "paid_at", "paid_received_at", "ship_by",
    "shipped_at", "shipped_received_at", "delivered_at", "delivered_received_at",
    "created_at", "updated_at",
]  # fmt: skip


class _OrderFields(_ModelSerializer[Order]):
    # The warehouse by its code (null when none is assigned).
    warehouse: serializers.SlugRelatedField[Warehouse] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )


class OrderListSerializer(_OrderFields):
    class Meta:
        model = Order
        fields = ORDER_FIELDS
        read_only_fields = ORDER_FIELDS


class OrderDetailSerializer(_OrderFields):
    lines = OrderLineSerializer(many=True, read_only=True)
    facts = StatusFactSerializer(many=True, read_only=True)
    tracking_events = TrackingEventSerializer(many=True, read_only=True)
    anomalies = AnomalySerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [*ORDER_FIELDS, "lines", "facts", "tracking_events", "anomalies"]
        read_only_fields = fields
