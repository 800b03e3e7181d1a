from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from orderhub.choices import Milestone
from orderhub.effects import UNSENT_MESSAGE, enqueue_failures
from orderhub.exceptions import OrderError
from orderhub.models import Customer, Order, OrderLine, Product, StatusFact, Warehouse
from orderhub.selectors import order_find, order_status_by_system, order_visible_to
from orderhub.services import order_transition


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin[Warehouse]):
    list_display = ["code", "name", "province", "city", "is_active"]
    list_filter = ["is_active", "province"]
    search_fields = ["code", "name"]
    filter_horizontal = ["staff"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ["sku", "name", "category", "hs_code", "unit_price"]
    list_filter = ["category"]
    search_fields = ["sku", "name", "hs_code"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin[Customer]):
    list_display = ["name", "phone", "email", "created_at"]
    search_fields = ["name", "phone", "email", "external_ref"]


class OrderLineInline(admin.TabularInline[OrderLine, Order]):
    model = OrderLine
    extra = 0
    fields = ("line_no", "sku", "title", "quantity", "unit_price", "amount")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _milestone_label(value: str) -> str:
    return str(Milestone(value).label) if value in Milestone.values else value


class StatusFactInline(admin.TabularInline[StatusFact, Order]):
    model = StatusFact
    extra = 0
    fields = (
        "occurred_at", "received_at", "system", "raw_status", "milestone", "outcome",
        "status_before_label", "status_after_label", "skipped",
    )  # fmt: skip
    readonly_fields = fields
    can_delete = False
    ordering = ["occurred_at", "id"]
    verbose_name_plural = _("status facts (every system, raw and canonical)")

    @admin.display(description=_("order status before"))
    def status_before_label(self, obj: StatusFact) -> str:
        return _milestone_label(obj.status_before)

    @admin.display(description=_("order status after"))
    def status_after_label(self, obj: StatusFact) -> str:
        return _milestone_label(obj.status_after)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(SimpleHistoryAdmin[Order]):
    change_form_template = "admin/orderhub/order/change_form.html"
    list_display = [
        "external_id", "channel", "status", "buyer_name", "province", "total_amount",
        "currency", "warehouse", "tracking_number", "placed_at",
    ]  # fmt: skip
    list_filter = [
        "channel", "status", "warehouse", "order_type", "priority",
        ("placed_at", admin.DateFieldListFilter), ("status_changed_at", admin.DateFieldListFilter),
    ]  # fmt: skip
    search_fields = ["=external_id", "=tracking_number", "=phone_tail", "buyer_name"]
    search_help_text = _("Channel order id, tracking number, last 4 phone digits or buyer name")
    date_hierarchy = "placed_at"
    list_select_related = ["warehouse"]
    readonly_fields = ["status", "status_changed_at", "created_at", "updated_at"]
    inlines = [OrderLineInline, StatusFactInline]
    fieldsets = [
        (None, {"fields": [("channel", "external_id"), "status", "status_changed_at"]}),
        (_("Buyer and receiver"), {"fields": [
            ("buyer_name", "buyer_phone", "buyer_email"), ("receiver_name", "receiver_phone"),
            ("country", "province", "city", "district"), "address", "postal_code",
        ]}),
        (_("Amounts"), {"fields": [
            "currency", ("goods_amount", "shipping_amount", "discount_amount", "tax_amount"),
            "total_amount",
        ]}),
        (_("Fulfilment"), {"fields": [
            ("order_type", "priority"), "warehouse", ("carrier", "tracking_number"), "buyer_note",
        ]}),
        (_("Times"), {"fields": [
            ("placed_at", "paid_at"), ("ship_by", "shipped_at", "delivered_at"),
            ("created_at", "updated_at"),
        ]}),
    ]  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return order_visible_to(request.user, super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Order], search_term: str
    ) -> tuple[QuerySet[Order], bool]:
        if search_term.strip():
            found = order_find(reference=search_term, queryset=queryset)
            by_name = queryset.filter(buyer_name__icontains=search_term.strip())
            return found | by_name, False
        return queryset, False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/transition/<str:target>/",
                self.admin_site.admin_view(require_POST(self.transition_view)),
                name="orderhub_order_transition",
            ),
            *super().get_urls(),
        ]

    def transition_view(self, request: HttpRequest, object_id: int, target: str) -> HttpResponse:
        order = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        reason = request.POST.get("reason", "").strip()
        try:
            with enqueue_failures() as unsent:
                order_transition(
                    order_id=order.pk,
                    target=target,
                    user=request.user,
                    source="admin",
                    reason=reason or f"admin: {order.status} → {target}",
                )
        except OrderError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
        else:
            self.message_user(
                request,
                _("Order %(order)s moved to %(status)s.") % {"order": order, "status": target},
                level=messages.SUCCESS,
            )
            if unsent:
                self.message_user(request, UNSENT_MESSAGE, level=messages.WARNING)
        return HttpResponseRedirect(reverse("admin:orderhub_order_change", args=[order.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            transitions = (
                order.get_available_user_status_transitions(request.user)
                if self.has_change_permission(request, order)
                else []
            )
            extra_context["transitions"] = [
                {"target": t.target, "label": t.custom.get("label", t.name)} for t in transitions
            ]
            extra_context["status_by_system"] = order_status_by_system(order=order)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(StatusFact)
class StatusFactAdmin(admin.ModelAdmin[StatusFact]):
    list_display = [
        "order", "system", "raw_status", "milestone", "outcome", "occurred_at", "received_at",
    ]  # fmt: skip
    list_filter = ["outcome", "milestone", "system"]
    search_fields = ["=order__external_id", "raw_status", "system"]
    list_select_related = ["order"]
    readonly_fields = [field.name for field in StatusFact._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusFact]:
        visible = order_visible_to(request.user)
        return super().get_queryset(request).filter(order__in=visible)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
