"""``GET /api/v1/anomalies/?channel=&external_id=&order=&kind=&open=true|false`` (token auth,
warehouse-scoped like orders; without ``open`` both open and resolved ones, newest first)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.routers import SimpleRouter

from health.choices import AnomalyKind
from health.models import Anomaly
from health.selectors import anomaly_list
from orderhub.serializers import AnomalySerializer


class AnomalyListSerializer(AnomalySerializer):
    order = serializers.IntegerField(source="order_id", read_only=True)
    channel = serializers.CharField(source="order.channel", read_only=True, default="")
    external_id = serializers.CharField(source="order.external_id", read_only=True, default="")

    class Meta(AnomalySerializer.Meta):
        fields = ["id", "order", "channel", "external_id", *AnomalySerializer.Meta.fields[1:]]


_OPEN = {"true": True, "1": True, "false": False, "0": False}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("channel", OpenApiTypes.STR),
            OpenApiParameter("external_id", OpenApiTypes.STR),
            OpenApiParameter("order", OpenApiTypes.INT),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=AnomalyKind.values),
            OpenApiParameter("open", OpenApiTypes.BOOL),
        ]
    )
)
class AnomalyViewSet(viewsets.ReadOnlyModelViewSet[Anomaly]):
    """Anomalies of the orders the caller may see."""

    serializer_class = AnomalyListSerializer
    queryset = Anomaly.objects.none()
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Anomaly]:
        if getattr(self, "swagger_fake_view", False):
            return Anomaly.objects.none()
        query = self.request.query_params
        errors: dict[str, str] = {}
        is_open = _OPEN.get(query.get("open", "").lower()) if "open" in query else None
        if "open" in query and is_open is None:
            errors["open"] = "true or false"
        order = query.get("order", "")
        if order and not (order.isascii() and order.isdigit() and len(order) <= 18):
            errors["order"] = "an order id"
        for name in ("channel", "external_id"):
            if "\x00" in query.get(name, ""):
                errors[name] = "Null characters are not allowed."
        kind = query.get("kind", "")
        if kind and kind not in AnomalyKind.values:
            errors["kind"] = f"one of {', '.join(AnomalyKind.values)}"
        if errors:
            raise ValidationError(errors)
        return anomaly_list(
            user=self.request.user,
            channel=query.get("channel", ""),
            external_id=query.get("external_id", ""),
            order_id=int(order) if order else None,
            kind=kind,
            is_open=is_open,
        )


router = SimpleRouter()
router.register("anomalies", AnomalyViewSet, basename="anomaly")
urlpatterns = router.urls
