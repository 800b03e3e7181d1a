"""Back office for pulls, write-back and reconciliation: read-only logs, one action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from channels_app.models import OutboundCall, OutboxEntry, PollState, ReconciliationRun
from channels_app.outbound.services import outbox_entry_requeue


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PollState)
class PollStateAdmin(_ReadOnly, admin.ModelAdmin[PollState]):
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

    @admin.action(description=_("Send again (failed or waiting entries)"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        count = 0
        for entry in queryset.exclude(status="acknowledged"):
            outbox_entry_requeue(entry_id=entry.pk, user=request.user)
            count += 1
        self.message_user(request, _("%(count)d entries queued.") % {"count": count},
                          messages.SUCCESS)  # fmt: skip


@admin.register(OutboundCall)
class OutboundCallAdmin(_ReadOnly, admin.ModelAdmin[OutboundCall]):
    list_display = ["started_at", "account", "operation", "response_status", "latency_ms",
                    "outcome"]  # fmt: skip
    list_filter = ["outcome", "operation", "account"]
    readonly_fields = [f.name for f in OutboundCall._meta.fields]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(_ReadOnly, admin.ModelAdmin[ReconciliationRun]):
    list_display = ["started_at", "account", "window_start", "window_end", "channel_count",
                    "missing_count", "replayed_count", "error"]  # fmt: skip
    list_filter = ["account"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
