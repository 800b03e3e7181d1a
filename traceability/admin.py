from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

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


@admin.register(LedgerSeal)
class LedgerSealAdmin(ReadOnlyAdmin):
    list_display = ["seq", "event_id", "hash", "sealed_at"]
    search_fields = ["=seq", "=event__id", "=hash"]
    show_full_result_count = False
