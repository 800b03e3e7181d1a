"""Input of the facts and stock API: validated here, handed to the services as dataclasses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers


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
    """One fact as the schema shows it (``facts_intake.fact_validate`` checks the same
    fields, with the same messages, without DRF on the hot path)."""

    key = serializers.CharField(max_length=128)
    system = serializers.CharField(max_length=64)
    order = OrderRefSerializer()
    raw_status = serializers.CharField(max_length=128)
    occurred_at = OffsetDateTimeField()
    carrier = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    tracking_number = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )


class StockLevelSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64)
    warehouse = serializers.CharField(max_length=32)
    on_hand = serializers.IntegerField(min_value=0)


class StockReportSerializer(serializers.Serializer[Any]):
    system = serializers.CharField(max_length=64)
    levels = StockLevelSerializer(many=True, allow_empty=False, max_length=5000)  # type: ignore[call-arg]


class FactAcceptedSerializer(serializers.Serializer[Any]):
    """The answer to one fact (for the schema; ``facts_accept`` renders the stored answer):
    its key, the order it names (null while OrderHub does not know it) and ``accepted`` or
    ``waiting``."""

    key = serializers.CharField()
    order = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["accepted", "waiting"])


class StockAnswerSerializer(serializers.Serializer[Any]):
    system = serializers.CharField()
    stored = serializers.IntegerField()
