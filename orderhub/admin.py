from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Field, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from orderhub.admin_base import AuditedHistoryAdmin, NotFoundOutsideScopeMixin
from orderhub.allocation.services import WAREHOUSE_RULE_FIELDS, warehouse_rule_save
from orderhub.choices import Milestone, Priority
from orderhub.effects import UNSENT_MESSAGE, enqueue_failures
from orderhub.exceptions import OrderError
from orderhub.models import (
    Allocation,
    Customer,
    Offer,
    Order,
    OrderLine,
    Product,
    StatusFact,
    TrackingEvent,
    Warehouse,
    WarehouseRule,
    Wave,
)
from orderhub.selectors import (
    order_find,
    order_status_by_system,
    order_visible_to,
    warehouse_visible_to,
)
from orderhub.services import (
    order_cancel,
    order_note_set,
    order_priority_set,
    order_tracking_set,
    order_transition,
    order_warehouse_assign,
)

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


def _works_for_warehouses(request: HttpRequest) -> bool:
    user: Any = request.user
    return not user.is_superuser and user.warehouses.exists()


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin[Warehouse]):
    list_display = ["code", "name", "province", "city", "is_active"]
    list_filter = ["is_active", "province"]
    search_fields = ["code", "name"]
    filter_horizontal = ["staff"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Warehouse]:
        return warehouse_visible_to(request.user, super().get_queryset(request))


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ["sku", "name", "category", "hs_code", "unit_price"]
    list_filter = ["category"]
    search_fields = ["sku", "name", "hs_code"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin[Customer]):
    list_display = ["name", "phone", "email", "created_at"]
    search_fields = ["name", "phone", "email", "external_ref"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        queryset = super().get_queryset(request)
        if _works_for_warehouses(request):  # only the buyers of their warehouses' orders
            visible = order_visible_to(request.user).filter(customer__isnull=False)
            queryset = queryset.filter(pk__in=visible.values("customer_id"))
        return queryset


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


class WarehouseScopedFilter(admin.RelatedFieldListFilter):
    """The warehouse filter offers only the warehouses the user works with."""

    def field_choices(
        self, field: Field[Any, Any], request: HttpRequest, model_admin: Any
    ) -> list[tuple[str, str | _StrPromise]]:
        return [(str(w.pk), str(w)) for w in warehouse_visible_to(request.user).order_by("code")]


def _order_fields(*names: str) -> tuple[str, ...]:
    """The names among ``names`` that are fields of Order (some arrive with other changes)."""
    existing = {field.name for field in Order._meta.get_fields()}
    return tuple(name for name in names if name in existing)


# The changes a person may make on the order page: action name → the permission it needs.
ORDER_ACTIONS: dict[str, str] = {
    "warehouse": "orderhub.assign_warehouse",
    "tracking": "orderhub.set_tracking",
    "priority": "orderhub.set_priority",
    "note": "orderhub.set_internal_note",
}


@admin.register(Order)
class OrderAdmin(AuditedHistoryAdmin[Order]):
    """Read-mostly: channel data, amounts, addresses and times are shown, never submitted.

    No view of this admin writes an order through a form (the change form, the history form
    and the delete view refuse every POST); each change a person may make is an explicit
    action posted to its own URL and done by one service. Every view, including
    simple-history's, is scoped by ``order_visible_to``: another warehouse's order is 404.
    """

    change_form_template = "admin/orderhub/order/change_form.html"
    list_display = [
        "external_id", "channel", "status", "buyer_name", "province", "total_amount",
        "currency", "warehouse", "tracking_number", "placed_at",
    ]  # fmt: skip
    list_filter = [
        "channel", "status", ("warehouse", WarehouseScopedFilter), "order_type", "priority",
        ("placed_at", admin.DateFieldListFilter), ("status_changed_at", admin.DateFieldListFilter),
    ]  # fmt: skip
    search_fields = ["=external_id", "=tracking_number", "=phone_tail", "buyer_name"]
    search_help_text = _("Channel order id, tracking number, last 4 phone digits or buyer name")
    date_hierarchy = "placed_at"
    list_select_related = ["warehouse"]
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
            "internal_note",
        ]}),
        (_("Times"), {"fields": [
            _order_fields("placed_at", "placed_received_at"),
            _order_fields("paid_at", "paid_received_at"),
            "ship_by",
            _order_fields("shipped_at", "shipped_received_at"),
            _order_fields("delivered_at", "delivered_received_at"),
            ("created_at", "updated_at"),
        ]}),
    ]  # fmt: skip

    # --- scope and read-only ----------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return order_visible_to(request.user, super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Order._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from the channels

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders are never deleted (this also drops the bulk delete action)

    def _visible_or_404(self, request: HttpRequest, object_id: Any) -> Order:
        order = self.get_object(request, str(object_id))
        if order is None:
            raise Http404
        return order

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Order], search_term: str
    ) -> tuple[QuerySet[Order], bool]:
        if search_term.strip():
            found = order_find(reference=search_term, queryset=queryset)
            by_name = queryset.filter(buyer_name__icontains=search_term.strip())
            return found | by_name, False
        return queryset, False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            if object_id is not None:
                self._visible_or_404(request, object_id)
            raise PermissionDenied  # no form writes an order; the actions below do
        return super().changeform_view(request, object_id, form_url, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        self._visible_or_404(request, object_id)
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # historical versions are read-only for everyone
        return super().history_form_view(request, object_id, version_id, extra_context)

    # --- explicit actions -------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/transition/<str:target>/",
                self.admin_site.admin_view(require_POST(self.transition_view)),
                name="orderhub_order_transition",
            ),
            path(
                "<int:object_id>/action/<str:action>/",
                self.admin_site.admin_view(require_POST(self.action_view)),
                name="orderhub_order_action",
            ),
            *super().get_urls(),
        ]

    def _redirect(self, order: Order) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:orderhub_order_change", args=[order.pk]))

    def transition_view(self, request: HttpRequest, object_id: int, target: str) -> HttpResponse:
        order = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        reason = request.POST.get("reason", "").strip()
        try:
            with enqueue_failures() as unsent:
                if target == Milestone.CANCELLED:
                    order_cancel(
                        order_id=order.pk, reason=reason, user=request.user, source="admin"
                    )
                else:
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
        return self._redirect(order)

    def action_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        """One explicit change from the order page, done by its service."""
        order = get_object_or_404(self.get_queryset(request), pk=object_id)
        if action not in ORDER_ACTIONS:
            raise Http404
        if not request.user.has_perm(ORDER_ACTIONS[action]):
            raise PermissionDenied
        data = request.POST
        common: dict[str, Any] = {
            "order_id": order.pk,
            "user": request.user,
            "source": "admin",
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
                    raise OrderError(gettext("Choose a priority.")) from None
                order_priority_set(priority=priority, **common)
            else:
                order_note_set(note=data.get("internal_note", ""), **common)
        except OrderError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
        else:
            self.message_user(
                request, _("Order %(order)s updated.") % {"order": order}, level=messages.SUCCESS
            )
        return self._redirect(order)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        order = self._visible_or_404(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        transitions = (
            order.get_available_user_status_transitions(request.user)  # type: ignore[attr-defined]  # added by django-fsm
            if self.has_change_permission(request, order)
            else []
        )
        extra_context["transitions"] = [
            {
                "target": t.target,
                "label": t.custom.get("label", t.name),
                "needs_reason": t.target == Milestone.CANCELLED,
            }
            for t in transitions
        ]
        allowed = [name for name, perm in ORDER_ACTIONS.items() if request.user.has_perm(perm)]
        extra_context["order_actions"] = allowed
        if "warehouse" in allowed:
            extra_context["action_warehouses"] = list(
                warehouse_visible_to(request.user).filter(is_active=True).order_by("code")
            )
            extra_context["action_warehouse_unassign"] = not _works_for_warehouses(request)
        extra_context["action_priorities"] = Priority.choices
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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if self.get_object(request, object_id) is None:
            raise Http404  # another warehouse's fact, or none
        return super().change_view(request, object_id, form_url, extra_context)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # facts are recorded by the services, never edited

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin[TrackingEvent]):
    """Courier tracking events, read-only; a warehouse user sees those of its orders only."""

    list_display = [
        "tracking_number", "carrier", "stage", "raw_state", "raw_substate", "occurred_at",
        "system", "order",
    ]  # fmt: skip
    list_filter = ["stage", "system"]
    search_fields = ["=tracking_number", "=order__external_id"]
    list_select_related = ["order"]
    readonly_fields = [field.name for field in TrackingEvent._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TrackingEvent]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser or not request.user.warehouses.exists():  # type: ignore[union-attr]
            return queryset  # head office: every waybill, owned by an order yet or not
        return queryset.filter(order__in=order_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Allocation: region rules a business user edits; offers, locks and waves read-only ------


class WarehouseScopedMixin(NotFoundOutsideScopeMixin):
    """Rows that belong to one warehouse: a warehouse user sees its own warehouses' rows only
    (list, change, history, lookups); the warehouse filter offers only those warehouses."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return queryset
        return queryset.filter(warehouse__in=warehouse_visible_to(request.user))


@admin.register(WarehouseRule)
class WarehouseRuleAdmin(WarehouseScopedMixin, AuditedHistoryAdmin[WarehouseRule]):
    list_display = ["warehouse", "provinces", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["warehouse__code", "provinces"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "warehouse":
            kwargs["queryset"] = warehouse_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["warehouse", "updated_at"] if obj is not None else ["updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a rule is switched off (``active``), never deleted unaudited

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = warehouse_rule_save(
            warehouse_id=obj.warehouse_id,
            values={name: form.cleaned_data[name] for name in WAREHOUSE_RULE_FIELDS},
            user=request.user,
        )
        obj.pk = saved.pk


class _ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Rows only the allocation services write."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Allocation)
class AllocationAdmin(WarehouseScopedMixin, _ReadOnlyAdmin):
    list_display = [
        "order", "warehouse", "sequence", "wave", "claimed_at", "lease_until", "picked_at",
        "released_at", "key_id",
    ]  # fmt: skip
    list_filter = [("warehouse", WarehouseScopedFilter)]
    search_fields = ["order__external_id", "warehouse__code"]
    list_select_related = ["order", "warehouse", "wave"]
    raw_id_fields = ["order"]


@admin.register(Offer)
class OfferAdmin(WarehouseScopedMixin, _ReadOnlyAdmin):
    list_display = ["order", "warehouse", "offered_at", "withdrawn_at"]
    list_filter = [("warehouse", WarehouseScopedFilter)]
    search_fields = ["order__external_id"]
    list_select_related = ["order", "warehouse"]
    raw_id_fields = ["order"]


@admin.register(Wave)
class WaveAdmin(WarehouseScopedMixin, _ReadOnlyAdmin):
    list_display = ["warehouse", "number", "opened_at", "closed_at", "size"]
    list_filter = [("warehouse", WarehouseScopedFilter)]
    list_select_related = ["warehouse"]
