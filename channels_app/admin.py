"""Back office for channel accounts, the inbox, quarantine, status mappings and credibility."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from channels_app.adapters.base import adapters
from channels_app.crypto import SecretsDecryptError, secrets_decrypt
from channels_app.models import (
    ChannelAccount,
    CredibilityRule,
    InboundMessage,
    QuarantinedDelivery,
    StatusMapping,
)
from channels_app.selectors import unmapped_status_list
from channels_app.services import (
    channel_account_create,
    channel_account_secrets_set,
    inbox_message_requeue,
    status_mapping_save,
)

_BODY_SHOWN = 64 * 1024
_MESSAGE_FIELDS: tuple[str, ...] = (
    "account",
    "source",
    "actor",
    "delivery_id",
    "dedupe_key",
    "event_type",
    "status",
    "reason",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "duplicate_count",
    "last_duplicate_at",
    "override_credibility",
    "order_ids",
    "received_at",
    "processed_at",
    "body_sha256",
    "headers",
    "raw_body",
    "decoded_payload",
)
_QUARANTINE_FIELDS: tuple[str, ...] = (
    "account_code",
    "reason",
    "response_status",
    "received_at",
    "body_sha256",
    "headers",
    "raw_body",
)


def _body_html(data: Any) -> str:
    raw = bytes(data or b"")
    text = raw[:_BODY_SHOWN].decode("utf-8", "replace")
    more = f"\n… ({len(raw) - _BODY_SHOWN} more bytes)" if len(raw) > _BODY_SHOWN else ""
    return format_html('<pre style="white-space: pre-wrap">{}{}</pre>', text, more)


def _parse_secret_lines(text: str) -> dict[str, str]:
    secrets = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValidationError(_("Each line must read NAME=VALUE."))
        secrets[name.strip()] = value.strip()
    return secrets


class ChannelAccountForm(forms.ModelForm[ChannelAccount]):
    new_secrets = forms.CharField(
        label=_("Set secrets"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_("One NAME=VALUE per line. Stored encrypted; never shown again."),
    )

    class Meta:
        model = ChannelAccount
        fields = ["kind", "code", "name", "enabled", "options", "needs_attention",
                  "attention_reason"]  # fmt: skip

    def clean_new_secrets(self) -> dict[str, str]:
        return _parse_secret_lines(self.cleaned_data.get("new_secrets") or "")


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin[ChannelAccount]):
    form = ChannelAccountForm
    list_display = ["code", "kind", "name", "enabled", "needs_attention", "webhook_path"]
    list_filter = ["kind", "enabled", "needs_attention"]
    search_fields = ["code", "name"]
    readonly_fields = ["secret_names", "webhook_path", "created_at", "updated_at"]

    @admin.display(description=_("webhook path"))
    def webhook_path(self, obj: ChannelAccount) -> str:
        return f"/hooks/{obj.code}/"

    @admin.display(description=_("secrets set"))
    def secret_names(self, obj: ChannelAccount) -> str:
        try:
            names = sorted(secrets_decrypt(obj.secrets_encrypted))
        except SecretsDecryptError:
            return str(_("cannot be decrypted with the configured keys"))
        return ", ".join(names) or "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["kind", "code"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def save_model(
        self, request: HttpRequest, obj: ChannelAccount, form: Any, change: bool
    ) -> None:
        secrets = form.cleaned_data.get("new_secrets") or {}
        try:
            if not change:
                created = channel_account_create(
                    kind=obj.kind, code=obj.code, name=obj.name, options=obj.options or {},
                    secrets=secrets, user=request.user,
                )  # fmt: skip
                obj.pk = created.pk
                return
            obj.save()
            if secrets:
                channel_account_secrets_set(account_id=obj.pk, secrets=secrets, user=request.user)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin[InboundMessage]):
    list_display = ["id", "account", "event_type", "status", "attempts", "duplicate_count",
                    "received_at", "short_reason"]  # fmt: skip
    list_filter = ["status", "source", "account"]
    search_fields = ["dedupe_key", "delivery_id", "body_sha256", "reason"]
    date_hierarchy = "received_at"
    list_select_related = ["account"]
    actions = ["process_again", "process_again_overriding_credibility"]
    fields = _MESSAGE_FIELDS
    readonly_fields = _MESSAGE_FIELDS

    @admin.display(description=_("reason"))
    def short_reason(self, obj: InboundMessage) -> str:
        return obj.reason[:120]

    @admin.display(description=_("raw body"))
    def raw_body(self, obj: InboundMessage) -> str:
        return _body_html(obj.body)

    @admin.display(description=_("payload (decrypted form)"))
    def decoded_payload(self, obj: InboundMessage) -> str:
        return _body_html(obj.payload)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _requeue(self, request: HttpRequest, queryset: QuerySet[InboundMessage], **kw: Any) -> None:
        ids = list(queryset.exclude(status="processing").values_list("pk", flat=True))
        for message_id in ids:
            inbox_message_requeue(message_id=message_id, user=request.user, **kw)
        self.message_user(request, _("%(count)d message(s) queued again.") % {"count": len(ids)})

    @admin.action(description=_("Process again"), permissions=["change"])
    def process_again(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        self._requeue(request, queryset)

    @admin.action(
        description=_("Process again, overriding credibility rules"), permissions=["change"]
    )
    def process_again_overriding_credibility(
        self, request: HttpRequest, queryset: QuerySet[InboundMessage]
    ) -> None:
        self._requeue(request, queryset, override_credibility=True)


@admin.register(QuarantinedDelivery)
class QuarantinedDeliveryAdmin(admin.ModelAdmin[QuarantinedDelivery]):
    list_display = ["id", "account_code", "reason", "response_status", "received_at"]
    list_filter = ["account_code", "response_status"]
    search_fields = ["account_code", "reason", "body_sha256"]
    date_hierarchy = "received_at"
    fields = _QUARANTINE_FIELDS
    readonly_fields = _QUARANTINE_FIELDS

    @admin.display(description=_("raw body"))
    def raw_body(self, obj: QuarantinedDelivery) -> str:
        return _body_html(obj.body)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class StatusMappingForm(forms.ModelForm[StatusMapping]):
    class Meta:
        model = StatusMapping
        fields = ["kind", "raw_status", "milestone", "note"]

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if kind not in adapters:
            raise ValidationError(_("Unknown channel kind."))
        return str(kind)


@admin.register(StatusMapping)
class StatusMappingAdmin(SimpleHistoryAdmin):
    form = StatusMappingForm
    list_display = ["kind", "raw_status", "milestone", "note", "updated_at"]
    list_filter = ["kind", "milestone"]
    search_fields = ["raw_status", "note"]
    change_list_template = "admin/channels_app/statusmapping/change_list.html"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row, applied = status_mapping_save(
            kind=obj.kind, raw_status=obj.raw_status, milestone=obj.milestone, note=obj.note,
            user=request.user,
        )  # fmt: skip
        obj.pk = row.pk
        if applied:
            self.message_user(request, _("%(count)d waiting fact(s) applied.") % {"count": applied})

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.unmapped_view)
        return [
            path("unmapped/", view, name="channels_app_statusmapping_unmapped"),
            *super().get_urls(),
        ]

    def unmapped_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("Unmapped raw statuses"),
            "opts": self.model._meta,
            "rows": unmapped_status_list(),
        }
        return TemplateResponse(request, "admin/channels_app/statusmapping/unmapped.html", context)


@admin.register(CredibilityRule)
class CredibilityRuleAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kind", "channel_kind", "enabled", "action"]
    list_filter = ["kind", "enabled"]
