from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from orderhub.selectors import order_visible_to
from traceability.models import LedgerEvent, LedgerSeal


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """The ledger is read in the admin, never written."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerEvent)
class LedgerEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "action", "actor", "order_id", "source_system", "subject"]
    list_filter = ["action", "source_system"]
    search_fields = ["=order_id", "=subject_id", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("subject"))
    def subject(self, obj: LedgerEvent) -> str:
        return f"{obj.subject_type} {obj.subject_id}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEvent]:
        """The events of the orders the user may see (``order_visible_to``); events of no order
        only for users who work for no warehouse."""
        queryset = super().get_queryset(request)
        user: Any = request.user
        if user.is_superuser:
            return queryset
        visible = order_visible_to(user).values("pk")
        if user.warehouses.exists():
            return queryset.filter(order_id__in=visible)
        return queryset.filter(Q(order_id__isnull=True) | Q(order_id__in=visible))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if self.get_object(request, object_id) is None:
            raise Http404  # an event of another warehouse's order, or none
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(LedgerSeal)
class LedgerSealAdmin(ReadOnlyAdmin):
    list_display = ["seq", "event_id", "hash", "sealed_at"]
    search_fields = ["=seq", "=event__id", "=hash"]
    show_full_result_count = False
