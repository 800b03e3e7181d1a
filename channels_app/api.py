"""The facts API: the merchant's WMS, ERP and TMS report facts and stock with a DRF token.

``POST /api/v1/facts/`` (one fact or a list of up to 500) and ``POST /api/v1/stock/``. The
facts view hands the raw body to ``facts_accept`` (store first); the stock view parses,
checks who reports, calls one service and renders. See the README "Facts API".
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.serializers import (
    FactAcceptedSerializer,
    FactSerializer,
    StockAnswerSerializer,
    StockReportSerializer,
)
from channels_app.services.facts_intake import (
    MAX_BODY_BYTES,
    FactsAnswer,
    Principal,
    facts_accept,
)
from channels_app.services.system_facts import (
    SystemFactsForbiddenError,
    system_account_check,
    system_account_get,
)
from orderhub.services.stock import StockInputError, StockLevelIn, stock_levels_report


def _forbidden(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)


class FactsView(APIView):
    """``POST /api/v1/facts/``: one fact (an object) or a batch (a list, answered in order).

    Stored first and applied by the worker. A request with ``Authorization: Token`` is
    answered by the WSGI edge (``channels_app.edge``) before Django; this view answers the
    others (a signed-in session, or a client that reaches Django directly) the same way.
    """

    @extend_schema(
        request=FactSerializer,
        responses={
            202: OpenApiResponse(
                FactAcceptedSerializer,
                description="Stored; applied by the worker (outcome waiting: order not known yet)",
            ),
            200: OpenApiResponse(FactAcceptedSerializer, description="The same key again"),
            400: OpenApiResponse(description="The fields that are wrong"),
            401: OpenApiResponse(description="No token, or a token that is not valid"),
            403: OpenApiResponse(description="May not report for this system or order"),
            413: OpenApiResponse(description="The body is too large"),
        },
        description="One fact, or a JSON list of up to 500 answered with a list in order.",
    )
    def post(self, request: Request) -> HttpResponse:
        user = request.user
        assert user.pk is not None  # IsAuthenticated: an anonymous request is answered 401
        principal = Principal(user.pk, user.get_username(), user.is_superuser)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            answer = FactsAnswer(413, b'{"detail":"The body is larger than the facts API takes."}')
        else:
            answer = facts_accept(body=request.body, principal=principal)
        return HttpResponse(answer.body, status=answer.status, content_type="application/json")


class StockView(APIView):
    """``POST /api/v1/stock/``: ``{"system": ..., "levels": [{"sku", "warehouse", "on_hand"}]}``."""

    @extend_schema(
        request=StockReportSerializer,
        responses={
            200: StockAnswerSerializer,
            400: OpenApiResponse(description="The fields that are wrong"),
            403: OpenApiResponse(description="May not report for this system or warehouse"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = StockReportSerializer(data=request.data)
        if not serializer.is_valid():
            return Response(serializer.errors, status=400)
        data: dict[str, Any] = dict(serializer.validated_data)
        account = system_account_get(code=data["system"])
        if account is None:
            return Response({"system": [f"No wms, erp or tms account {data['system']!r}."]}, 400)
        try:
            system_account_check(account=account, user=request.user)
        except SystemFactsForbiddenError as error:
            return _forbidden(str(error))
        scope = account.options.get("warehouse", "")
        foreign = sorted({level["warehouse"] for level in data["levels"]} - {scope})
        if scope and foreign:
            return _forbidden(f"{account.code} reports for {scope} only, not {', '.join(foreign)}")
        levels = [
            StockLevelIn(warehouse=level["warehouse"], sku=level["sku"], on_hand=level["on_hand"])
            for level in data["levels"]
        ]
        try:
            stored = stock_levels_report(levels=levels, source=account.system, user=request.user)
        except StockInputError as error:
            errors = [error.errors.get(index, {}) for index in range(len(levels))]
            return Response({"levels": errors}, status=400)
        return Response({"system": account.code, "stored": stored}, status=200)


urlpatterns = [
    path("facts/", FactsView.as_view(), name="facts"),
    path("stock/", StockView.as_view(), name="stock"),
]
