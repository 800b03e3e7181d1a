"""Input of the facts and stock API: validated here, handed to the services as dataclasses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from channels_app.services.system_facts import SystemFactIn


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset (a source clock without one is
    ambiguous)."""

    default_error_messages = {
        "invalid": "Give an ISO 8601 time with a UTC offset, e.g. 2026-05-01T10:00:00+08:00.",
        "naive": "The time has no UTC offset.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.utcoffset() is None:
            self.fail("naive")
        return value

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class OrderRefSerializer(serializers.Serializer[Any]):
    """``{"id": <OrderHub id>}`` or ``{"channel": ..., "external_id": ...}``."""

    id = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.CharField(required=False, max_length=64)
    external_id = serializers.CharField(required=False, max_length=128)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "id" in attrs:
            if "channel" in attrs or "external_id" in attrs:
                raise serializers.ValidationError("Give either id or channel and external_id.")
            return attrs
        if not attrs.get("channel") or not attrs.get("external_id"):
            raise serializers.ValidationError("Give id, or both channel and external_id.")
        return attrs


class FactSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(max_length=128)
    system = serializers.CharField(max_length=64)
    order = OrderRefSerializer()
    raw_status = serializers.CharField(max_length=128)
    occurred_at = OffsetDateTimeField()
    carrier = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    tracking_number = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )

    def fact_in(self) -> SystemFactIn:
        return fact_in(self.validated_data)


def fact_in(data: dict[str, Any]) -> SystemFactIn:
    order = data["order"]
    return SystemFactIn(
        key=data["key"],
        raw_status=data["raw_status"],
        occurred_at=data["occurred_at"],
        order_id=order.get("id"),
        channel=order.get("channel", ""),
        external_id=order.get("external_id", ""),
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
    )


class StockLevelSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64)
    warehouse = serializers.CharField(max_length=32)
    on_hand = serializers.IntegerField(min_value=0)


class StockReportSerializer(serializers.Serializer[Any]):
    system = serializers.CharField(max_length=64)
    levels = StockLevelSerializer(many=True, allow_empty=False, max_length=5000)  # type: ignore[call-arg]


class FactAnswerSerializer(serializers.Serializer[Any]):
    """The answer to one fact (for the schema; the views render the stored body)."""

    id = serializers.IntegerField(allow_null=True)
    order = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    milestone = serializers.CharField(allow_null=True)


class StockAnswerSerializer(serializers.Serializer[Any]):
    system = serializers.CharField()
    stored = serializers.IntegerField()
