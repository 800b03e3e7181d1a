"""The facts API: the merchant's WMS, ERP and TMS report facts and stock with a DRF token.

``POST /api/v1/facts/`` (one fact or a list of up to 500) and ``POST /api/v1/stock/``. The
views parse, check who reports, call one service and render; see the README "Facts API".
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.serializers import (
    FactAnswerSerializer,
    FactSerializer,
    StockAnswerSerializer,
    StockReportSerializer,
    fact_in,
)
from channels_app.services.system_facts import (
    BATCH_LIMIT,
    SystemFactsForbiddenError,
    SystemFactsInputError,
    system_account_check,
    system_account_get,
    system_facts_record,
)
from orderhub.services.stock import StockInputError, StockLevelIn, stock_levels_report


def _per_item(errors: Any, count: int) -> list[Any]:
    """A list serializer's errors as one entry per item ({} for a valid one)."""
    if isinstance(errors, dict):
        return [errors.get(index, errors.get(str(index), {})) for index in range(count)]
    return list(errors)


def _forbidden(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)


class FactsView(APIView):
    """``POST /api/v1/facts/``: one fact (an object) or a batch (a list, answered in order)."""

    @extend_schema(
        request=FactSerializer,
        responses={
            201: FactAnswerSerializer,
            200: OpenApiResponse(FactAnswerSerializer, description="The same key again"),
            202: OpenApiResponse(FactAnswerSerializer, description="Order not known yet"),
            400: OpenApiResponse(description="The fields that are wrong"),
            403: OpenApiResponse(description="May not report for this system or order"),
        },
        description="One fact, or a JSON list of up to 500 answered with a list in order.",
    )
    def post(self, request: Request) -> Response:
        batch = isinstance(request.data, list)
        raw: list[Any] = list(request.data) if batch else [request.data]
        if not raw:
            return Response({"detail": "The list holds no facts."}, status=400)
        if len(raw) > BATCH_LIMIT:
            return Response(
                {"detail": f"A batch holds at most {BATCH_LIMIT} facts (got {len(raw)})."},
                status=400,
            )
        serializer = FactSerializer(data=raw, many=True)
        if not serializer.is_valid():
            invalid = _per_item(serializer.errors, len(raw))
            return Response(invalid if batch else invalid[0], status=400)
        data: list[dict[str, Any]] = list(serializer.validated_data)
        systems = [item["system"] for item in data]
        if len(set(systems)) > 1:
            named: list[dict[str, list[str]]] = [
                {} if name == systems[0] else {"system": ["A batch reports for one system."]}
                for name in systems
            ]
            return Response(named, status=400)
        account = system_account_get(code=systems[0])
        if account is None:
            error = {"system": [f"No wms, erp or tms account {systems[0]!r}."]}
            return Response([error] * len(data) if batch else error, status=400)
        try:
            results = system_facts_record(
                account=account, items=[fact_in(item) for item in data], user=request.user
            )
        except SystemFactsForbiddenError as error:
            return _forbidden(str(error))
        except SystemFactsInputError as error:
            per_item = [error.errors.get(index, {}) for index in range(len(data))]
            return Response(per_item if batch else per_item[0], status=400)
        if not batch:
            return Response(results[0].body, status=results[0].status)
        written = any(result.status != 200 for result in results)
        return Response([result.body for result in results], status=201 if written else 200)


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
