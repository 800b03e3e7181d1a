"""The staff order page, its action buttons, and the self-check (page and API).

Every view is for staff (the admin login), scoped by ``order_visible_to`` (another warehouse's
order is 404), and every POST calls one existing service: the lifecycle transitions
(``order_transition`` / ``order_cancel``), the manual changes of ``orderhub.services.actions``
and ``health.services.anomaly_resolve``, with the permissions the admin asks for.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from health.models import Anomaly
from health.services import anomaly_resolve
from orderhub.admin import ORDER_ACTIONS
from orderhub.choices import Milestone, Priority
from orderhub.effects import UNSENT_MESSAGE, enqueue_failures
from orderhub.exceptions import OrderError
from orderhub.models import Order
from orderhub.selectors import order_visible_to, warehouse_visible_to
from orderhub.services import (
    order_cancel,
    order_note_set,
    order_priority_set,
    order_tracking_set,
    order_transition,
    order_warehouse_assign,
)
from orderhub.staff.selectors import order_page_get
from orderhub.staff.selfcheck import PASS_MARK, self_check_run

SOURCE = "staff"


def _staff(view: Any) -> Any:
    return staff_member_required(view, login_url="admin:login")


def _visible_order(request: HttpRequest, order_id: int) -> Order:
    order = order_visible_to(request.user).select_related("warehouse").filter(pk=order_id).first()
    if order is None:
        raise Http404
    return order


def _transitions(request: HttpRequest, order: Order) -> list[dict[str, Any]]:
    if not request.user.has_perm("orderhub.change_order"):
        return []
    available = order.get_available_user_status_transitions(request.user)  # type: ignore[attr-defined]  # django-fsm
    return [
        {
            "target": t.target,
            "label": t.custom.get("label", t.name),
            "needs_reason": t.target == Milestone.CANCELLED,
        }
        for t in available
    ]


def _back(order: Order) -> HttpResponse:
    return HttpResponseRedirect(reverse("staff-order", args=[order.pk]))


@require_GET
@_staff
def staff_order(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _visible_order(request, order_id)
    allowed = [name for name, perm in ORDER_ACTIONS.items() if request.user.has_perm(perm)]
    works_for_warehouses = (
        not request.user.is_superuser and request.user.warehouses.exists()  # type: ignore[union-attr]
    )
    context = {
        "page": order_page_get(order=order),
        "order": order,
        "transitions": _transitions(request, order),
        "order_actions": allowed,
        "warehouses": (
            list(warehouse_visible_to(request.user).filter(is_active=True).order_by("code"))
            if "warehouse" in allowed
            else []
        ),
        "warehouse_unassign": not works_for_warehouses,
        "priorities": Priority.choices,
        "can_resolve": request.user.has_perm("health.change_anomaly"),
    }
    return render(request, "staff/order.html", context)


@require_POST
@_staff
def staff_order_transition(request: HttpRequest, order_id: int, target: str) -> HttpResponse:
    order = _visible_order(request, order_id)
    if target not in {t["target"] for t in _transitions(request, order)}:
        raise PermissionDenied
    reason = request.POST.get("reason", "").strip()
    try:
        with enqueue_failures() as unsent:
            if target == Milestone.CANCELLED:
                order_cancel(order_id=order.pk, reason=reason, user=request.user, source=SOURCE)
            else:
                order_transition(
                    order_id=order.pk,
                    target=target,
                    user=request.user,
                    source=SOURCE,
                    reason=reason or f"staff: {order.status} → {target}",
                )
    except OrderError as exc:
        messages.error(request, str(exc))
    else:
        label = str(Milestone(target).label) if target in Milestone.values else target
        messages.success(request, _("Order moved to %(status)s.") % {"status": label})
        if unsent:
            messages.warning(request, str(UNSENT_MESSAGE))
    return _back(order)


@require_POST
@_staff
def staff_order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    order = _visible_order(request, order_id)
    if action not in ORDER_ACTIONS:
        raise Http404
    if not request.user.has_perm(ORDER_ACTIONS[action]):
        raise PermissionDenied
    data = request.POST
    common: dict[str, Any] = {
        "order_id": order.pk,
        "user": request.user,
        "source": SOURCE,
        "reason": data.get("reason", "").strip(),
    }
    try:
        if action == "warehouse":
            order_warehouse_assign(warehouse_code=data.get("warehouse_code", ""), **common)
        elif action == "tracking":
            order_tracking_set(
                carrier=data.get("carrier", ""),
                tracking_number=data.get("tracking_number", ""),
                **common,
            )
        elif action == "priority":
            try:
                priority = int(data.get("priority", ""))
            except ValueError:
                raise OrderError(_("Choose a priority.")) from None
            order_priority_set(priority=priority, **common)
        else:
            order_note_set(note=data.get("internal_note", ""), **common)
    except OrderError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Order updated."))
    return _back(order)


@require_POST
@_staff
def staff_anomaly_resolve(request: HttpRequest, order_id: int, anomaly_id: int) -> HttpResponse:
    order = _visible_order(request, order_id)
    if not request.user.has_perm("health.change_anomaly"):
        raise PermissionDenied
    if not Anomaly.objects.filter(pk=anomaly_id, order_id=order.pk).exists():
        raise Http404
    note = request.POST.get("note", "").strip() or _("resolved on the order page")
    anomaly_resolve(anomaly_id=anomaly_id, user=request.user, note=note)
    messages.success(request, _("Anomaly closed."))
    return _back(order)


@require_GET
@_staff
def self_check_page(request: HttpRequest) -> HttpResponse:
    result = self_check_run()
    return render(request, "staff/self_check.html", {"check": result, "pass_mark": PASS_MARK})


class SelfCheckView(APIView):
    """``GET /api/v1/self-check/``: the ten checks as JSON (staff, token or session)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        responses=inline_serializer(
            "SelfCheck",
            {
                "score": serializers.IntegerField(),
                "items": inline_serializer(
                    "SelfCheckItem",
                    {"key": serializers.CharField(), "title": serializers.CharField(),
                     "passed": serializers.BooleanField(), "value": serializers.CharField(),
                     "evidence": serializers.CharField()},
                    many=True,
                ),
            },
        )
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return Response(self_check_run().as_json())
