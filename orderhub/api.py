"""The integration API (DRF): canonical orders, read-only, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.urls import include, path
from django_filters import rest_framework as filters
from rest_framework import viewsets
from rest_framework.routers import DefaultRouter
from rest_framework.serializers import BaseSerializer

from health.models import Anomaly
from orderhub.choices import Milestone
from orderhub.models import Order, OrderLine, StatusFact, TrackingEvent
from orderhub.selectors import order_visible_to
from orderhub.serializers import OrderDetailSerializer, OrderListSerializer


class OrderFilter(filters.FilterSet):
    channel = filters.CharFilter(field_name="channel")
    external_id = filters.CharFilter(field_name="external_id")
    status = filters.MultipleChoiceFilter(field_name="status", choices=Milestone.choices)

    class Meta:
        model = Order
        fields = ["channel", "external_id", "status"]


class OrderViewSet(viewsets.ReadOnlyModelViewSet[Order]):
    """Canonical orders. ``GET /api/v1/orders/?channel=&external_id=&status=``."""

    filterset_class = OrderFilter
    # For the schema generator only; requests always go through get_queryset.
    queryset = Order.objects.none()
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Order.objects.none()
        queryset = order_visible_to(self.request.user).select_related("warehouse").order_by("-id")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("lines", queryset=OrderLine.objects.order_by("line_no")),
                Prefetch("facts", queryset=StatusFact.objects.order_by("occurred_at", "id")),
                Prefetch(
                    "tracking_events",
                    queryset=TrackingEvent.objects.order_by("occurred_at", "id"),
                ),
                Prefetch("anomalies", queryset=Anomaly.objects.order_by("opened_at", "id")),
            )
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer[Order]]:
        return OrderDetailSerializer if self.action == "retrieve" else OrderListSerializer


router = DefaultRouter()
router.register("orders", OrderViewSet, basename="order")
# The facts API of the WMS/ERP/TMS accounts lives with the channels, the anomalies with health,
# the warehouse claims with the allocation (included by name).
urlpatterns = [
    *router.urls,
    path("", include("channels_app.api")),
    path("", include("health.api")),
    path("", include("orderhub.allocation.api")),
]
