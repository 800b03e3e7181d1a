"""Warehouse offers and claims, and the allocation public key (DRF views).

``GET /api/v1/warehouses/<code>/offers/``, ``POST /api/v1/warehouses/<code>/claims/``
``{"order": <id>}``, ``GET /api/v1/allocations/public-key/``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orderhub.allocation import certificates, selectors, services
from orderhub.models import Offer, Warehouse
from orderhub.pagination import CappedLimitOffsetPagination


class OfferSerializer(serializers.ModelSerializer[Offer]):
    order = serializers.IntegerField(source="order_id")
    channel = serializers.CharField(source="order.channel")
    external_id = serializers.CharField(source="order.external_id")
    province = serializers.CharField(source="order.province")
    priority = serializers.IntegerField(source="order.priority")
    ship_by = serializers.DateTimeField(source="order.ship_by", allow_null=True)

    class Meta:
        model = Offer
        fields = [
            "order",
            "channel",
            "external_id",
            "offered_at",
            "province",
            "priority",
            "ship_by",
        ]


class ClaimSerializer(serializers.Serializer[dict[str, Any]]):
    order = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


_CERTIFICATE = inline_serializer(
    "AllocationCertificate",
    {"payload": serializers.CharField(), "signature": serializers.CharField(),
     "key_id": serializers.CharField()},
)  # fmt: skip
_CLAIM_ANSWER = inline_serializer(
    "ClaimAnswer", {"status": serializers.CharField(), "certificate": _CERTIFICATE}
)


def _warehouse_visible(code: str, user: Any) -> Warehouse | None:
    warehouse = Warehouse.objects.filter(code=code).first()
    if warehouse is None or not services.user_may_act_for(user, warehouse):
        return None
    return warehouse


class WarehouseOffersView(APIView):
    """The orders offered to this warehouse now (its staff, or holders of
    ``orderhub.claim_any_warehouse``; anyone else gets 404)."""

    @extend_schema(responses=OfferSerializer(many=True))
    def get(self, request: Request, code: str) -> Response:
        warehouse = _warehouse_visible(code, request.user)
        if warehouse is None:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        paginator = CappedLimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.offers_open_for_warehouse(warehouse), request, view=self
        )
        return paginator.get_paginated_response(OfferSerializer(page, many=True).data)


class WarehouseClaimsView(APIView):
    """Claim an offered order; the first valid claim wins. 201 won, 200 the same winner
    again, 409 taken (with the winner's certificate) or not offered, 404 unknown."""

    @extend_schema(
        request=ClaimSerializer,
        responses={201: _CLAIM_ANSWER, 200: _CLAIM_ANSWER, 409: _CLAIM_ANSWER},
    )
    def post(self, request: Request, code: str) -> Response:
        body = ClaimSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if _warehouse_visible(code, request.user) is None:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        try:
            result = services.allocation_claim(
                order_id=body.validated_data["order"], warehouse_code=code, user=request.user
            )
        except services.AllocationNotFoundError:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        except services.AllocationPermissionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except services.AllocationNotOfferedError as exc:
            return Response(
                {"status": "not_offered", "detail": str(exc)}, status=status.HTTP_409_CONFLICT
            )
        answer_status = "taken" if result.status == "taken" else "won"
        code_by_status = {"won": 201, "held": 200, "taken": 409}
        return Response(
            {"status": answer_status, "certificate": result.certificate.as_dict()},
            status=code_by_status[result.status],
        )


class AllocationPublicKeyView(APIView):
    """The key that signs allocation certificates, and the retired ones still trusted."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "AllocationPublicKey",
            {"key_id": serializers.CharField(), "algorithm": serializers.CharField(),
             "public_key_pem": serializers.CharField(),
             "retired": serializers.ListField(child=serializers.DictField())},
        )
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        current = certificates.current_public_key()
        current_id = certificates.key_id(current)
        retired = [
            {"key_id": kid, "public_key_pem": certificates.public_key_pem(key)}
            for kid, key in certificates.public_keys().items()
            if kid != current_id
        ]
        return Response(
            {
                "key_id": current_id,
                "algorithm": certificates.ALGORITHM,
                "public_key_pem": certificates.public_key_pem(current),
                "retired": retired,
            }
        )


urlpatterns = [
    path("warehouses/<str:code>/offers/", WarehouseOffersView.as_view(), name="warehouse-offers"),
    path("warehouses/<str:code>/claims/", WarehouseClaimsView.as_view(), name="warehouse-claims"),
    path(
        "allocations/public-key/",
        AllocationPublicKeyView.as_view(),
        name="allocation-public-key",
    ),
]
