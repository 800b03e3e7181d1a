"""Back office for pulls, write-back and reconciliation: read-only logs, one action.

Warehouse staff see the write-back of their warehouses' orders only, and no account-wide
log (polls, reconciliation). Call bodies are shown with the account's secrets and any
token-like field masked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from channels_app.admin import warehouse_staff
from channels_app.crypto import SecretsDecryptError, secrets_decrypt
from channels_app.masking import masked
from channels_app.models import OutboundCall, OutboxEntry, PollState, ReconciliationRun
from channels_app.outbound.services import outbox_entry_requeue
from orderhub.selectors import order_visible_to

_CALL_BODIES = ("request_body", "response_body", "url")


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # logs are evidence


class _HeadOfficeOnly:
    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not warehouse_staff(request.user) and super().has_view_permission(request, obj)  # type: ignore[misc]


@admin.register(PollState)
class PollStateAdmin(_HeadOfficeOnly, _ReadOnly, admin.ModelAdmin[PollState]):
    list_display = ["account", "last_outcome", "last_finished_at", "next_poll_at", "lease_until",
                    "pages_total", "messages_total", "rate_limited_total"]  # fmt: skip
    list_filter = ["last_outcome"]
    readonly_fields = [f.name for f in PollState._meta.fields]


class OutboundCallInline(admin.TabularInline[OutboundCall, OutboxEntry]):
    model = OutboundCall
    extra = 0
    can_delete = False
    fields = ("started_at", "operation", "method", "response_status", "latency_ms", "outcome",
              "error")  # fmt: skip
    readonly_fields = ("started_at", "operation", "method", "response_status", "latency_ms",
                       "outcome", "error")  # fmt: skip

    def has_add_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return False


@admin.register(OutboxEntry)
class OutboxEntryAdmin(_ReadOnly, admin.ModelAdmin[OutboxEntry]):
    list_display = ["id", "account", "order", "action", "milestone", "status", "attempts",
                    "last_error", "created_at", "acknowledged_at"]  # fmt: skip
    list_filter = ["status", "action", "account"]
    search_fields = ["idempotency_key", "order__external_id"]
    readonly_fields = [f.name for f in OutboxEntry._meta.fields]
    inlines = [OutboundCallInline]
    actions = ["send_again"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxEntry]:
        queryset = super().get_queryset(request)
        if warehouse_staff(request.user):
            queryset = queryset.filter(order__in=order_visible_to(request.user))
        return queryset

    @admin.action(description=_("Send again (failed or waiting entries)"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        count = 0
        for entry in queryset.exclude(status="acknowledged"):
            outbox_entry_requeue(entry_id=entry.pk, user=request.user)
            count += 1
        self.message_user(request, _("%(count)d entries queued.") % {"count": count},
                          messages.SUCCESS)  # fmt: skip


_CALL_FIELDS: list[str] = [
    *(f.name for f in OutboundCall._meta.fields if f.name not in _CALL_BODIES),
    "url_shown", "request_shown", "response_shown",
]  # fmt: skip


@admin.register(OutboundCall)
class OutboundCallAdmin(_ReadOnly, admin.ModelAdmin[OutboundCall]):
    list_display = ["started_at", "account", "operation", "response_status", "latency_ms",
                    "outcome"]  # fmt: skip
    list_filter = ["outcome", "operation", "account"]
    fields = tuple(_CALL_FIELDS)
    readonly_fields = _CALL_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboundCall]:
        queryset = super().get_queryset(request).select_related("account")
        if warehouse_staff(request.user):
            visible = order_visible_to(request.user).values("id")
            queryset = queryset.filter(order_id_ref__in=visible)
        return queryset

    def _masked(self, obj: OutboundCall, text: str) -> Any:
        try:
            values = list(secrets_decrypt(obj.account.secrets_encrypted).values())
        except SecretsDecryptError:
            values = []
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', masked(text, values))

    @admin.display(description=_("URL"))
    def url_shown(self, obj: OutboundCall) -> Any:
        return self._masked(obj, obj.url)

    @admin.display(description=_("request body"))
    def request_shown(self, obj: OutboundCall) -> Any:
        return self._masked(obj, obj.request_body)

    @admin.display(description=_("response body"))
    def response_shown(self, obj: OutboundCall) -> Any:
        return self._masked(obj, obj.response_body)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(_HeadOfficeOnly, _ReadOnly, admin.ModelAdmin[ReconciliationRun]):
    list_display = ["started_at", "account", "window_start", "window_end", "channel_count",
                    "missing_count", "replayed_count", "error"]  # fmt: skip
    list_filter = ["account"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
