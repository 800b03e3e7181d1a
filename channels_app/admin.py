"""Back office for channel accounts, the inbox, quarantine, status mappings and credibility."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.postgres.aggregates import JSONBAgg
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet, Subquery, Value
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from channels_app.crypto import SecretsDecryptError, secrets_decrypt
from channels_app.models import (
    ChannelAccount,
    CredibilityRule,
    InboundMessage,
    MappingSource,
    QuarantinedDelivery,
    StatusMapping,
    SystemFactReceipt,
    channel_kind_choices,
)
from channels_app.selectors import (
    JOURNAL_ALARM_FULL_SHARE,
    journal_health,
    unmapped_status_list,
)
from channels_app.services import (
    channel_account_create,
    channel_account_rekey,
    channel_account_set_enabled,
    channel_account_update,
    credibility_rule_delete,
    credibility_rule_save,
    inbox_message_requeue,
    status_mapping_delete,
    status_mapping_save,
)
from channels_app.services.accounts import channel_account_validate, writeback_enabled
from channels_app.services.credibility import credibility_rule_validate
from channels_app.services.mapping import status_mapping_validate
from orderhub.admin_base import AuditedHistoryAdmin
from orderhub.selectors import order_visible_to

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


def warehouse_staff(user: Any) -> bool:
    """A staff member who works for a warehouse: sees the channel data of its orders only.
    Asked many times per admin page, so the answer is kept on the request's user."""
    cached = getattr(user, "_channels_warehouse_staff", None)
    if cached is None:
        cached = bool(user.is_authenticated and not user.is_superuser and user.warehouses.exists())
        user._channels_warehouse_staff = cached
    return bool(cached)


def inbound_messages_visible_to(
    user: Any, queryset: QuerySet[InboundMessage]
) -> QuerySet[InboundMessage]:
    """For warehouse staff, the messages every order of which they may see (a message naming
    another warehouse's order, or no order, is not theirs); everyone else: unchanged."""
    if not warehouse_staff(user):
        return queryset
    # One uncorrelated subquery: the visible order ids as one jsonb array (NULL when none).
    visible_ids = (
        order_visible_to(user)
        .order_by()
        .annotate(group=Value(1))
        .values("group")
        .annotate(ids=JSONBAgg("id"))
        .values("ids")
    )
    return queryset.filter(order_ids__contained_by=Subquery(visible_ids)).exclude(order_ids=[])


class _SecretTextarea(forms.Textarea):
    """Never renders a value, not even the one just submitted with a form error."""

    def format_value(self, value: Any) -> None:
        return None


def _reason_field() -> forms.CharField:
    return forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        help_text=_("Kept in the audit ledger and the history with the change."),
    )


class ChannelAccountForm(forms.ModelForm[ChannelAccount]):
    kind = forms.ChoiceField(label=_("kind"), choices=channel_kind_choices)
    new_secrets = forms.CharField(
        label=_("Set secrets"),
        required=False,
        widget=_SecretTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_("One NAME=VALUE per line. Stored encrypted; never shown again."),
    )
    change_reason = _reason_field()

    class Meta:
        model = ChannelAccount
        fields = ["kind", "code", "name", "enabled", "options", "needs_attention",
                  "attention_reason"]  # fmt: skip
        help_texts = {
            "options": _(
                'A JSON object of the kind\'s options; {"writeback": "off"} turns the '
                "write-back to this account off."
            )
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields.pop("kind", None)  # read-only once created

    def clean_new_secrets(self) -> dict[str, str]:
        return _parse_secret_lines(self.cleaned_data.get("new_secrets") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        options = data.get("options")
        if options is None:
            options = data["options"] = {}
        if not isinstance(options, dict):
            self.add_error("options", _("The options must be a JSON object."))
            return data
        if self.errors:
            return data
        secrets = data.get("new_secrets") or {}
        if self.instance.pk is not None and options == self.instance.options and not secrets:
            return data  # options and secrets untouched: nothing the services would check
        kind = self.instance.kind if self.instance.pk is not None else data.get("kind", "")
        try:
            channel_account_validate(
                kind=kind, options=options, secrets=secrets, account_id=self.instance.pk,
            )  # fmt: skip
        except ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(ChannelAccount)
class ChannelAccountAdmin(AuditedHistoryAdmin):
    form = ChannelAccountForm
    list_display = ["code", "kind", "name", "enabled", "needs_attention", "writeback",
                    "webhook_path"]  # fmt: skip
    list_filter = ["kind", "enabled", "needs_attention"]
    search_fields = ["code", "name"]
    readonly_fields = ["secret_names", "writeback", "webhook_path", "created_at", "updated_at"]
    actions = ["enable_accounts", "disable_accounts", "rekey_accounts"]

    @admin.display(description=_("webhook path"))
    def webhook_path(self, obj: ChannelAccount) -> str:
        return f"/hooks/{obj.code}/"

    @admin.display(description=_("write-back"), boolean=True)
    def writeback(self, obj: ChannelAccount) -> bool | None:
        if obj.pk is None or not obj.kind:
            return None
        return writeback_enabled(kind=obj.kind, options=obj.options or {})

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

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        editable = ["name", "enabled", "options", "needs_attention", "attention_reason",
                    "new_secrets", "change_reason"]  # fmt: skip
        if obj is None:
            return ["kind", "code", *editable, "webhook_path"]
        return ["kind", "code", *editable, "secret_names", "writeback", "webhook_path",
                "created_at", "updated_at"]  # fmt: skip

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not warehouse_staff(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not warehouse_staff(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not warehouse_staff(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are disabled, never deleted: their messages point at them

    def save_model(
        self, request: HttpRequest, obj: ChannelAccount, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        secrets = data.get("new_secrets") or {}
        reason = data.get("change_reason") or ""
        if not change:
            created = channel_account_create(
                kind=data["kind"], code=obj.code, name=obj.name, options=obj.options or {},
                secrets=secrets, user=request.user, source="admin", reason=reason,
            )  # fmt: skip
            obj.pk = created.pk
            return
        channel_account_update(
            account_id=obj.pk, name=obj.name, enabled=obj.enabled, options=obj.options or {},
            needs_attention=obj.needs_attention, attention_reason=obj.attention_reason,
            secrets=secrets, user=request.user, reason=reason,
        )  # fmt: skip

    def _each(self, request: HttpRequest, queryset: QuerySet[ChannelAccount], **kw: Any) -> int:
        count = 0
        for account_id in queryset.order_by("pk").values_list("pk", flat=True):
            kw["service"](account_id=account_id, user=request.user, **kw.get("args", {}))
            count += 1
        return count

    @admin.action(description=_("Enable the selected accounts"), permissions=["change"])
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[ChannelAccount]) -> None:
        count = self._each(
            request, queryset, service=channel_account_set_enabled, args={"enabled": True}
        )
        self.message_user(request, _("%(count)d account(s) enabled.") % {"count": count})

    @admin.action(description=_("Disable the selected accounts"), permissions=["change"])
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[ChannelAccount]) -> None:
        count = self._each(
            request, queryset, service=channel_account_set_enabled, args={"enabled": False}
        )
        self.message_user(request, _("%(count)d account(s) disabled.") % {"count": count})

    @admin.action(
        description=_("Re-encrypt the secrets with the current key"), permissions=["change"]
    )
    def rekey_accounts(self, request: HttpRequest, queryset: QuerySet[ChannelAccount]) -> None:
        try:
            count = self._each(request, queryset, service=channel_account_rekey)
        except SecretsDecryptError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, _("%(count)d account(s) re-encrypted.") % {"count": count})


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

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundMessage]:
        return inbound_messages_visible_to(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.journal_view)
        return [
            path("journal/", view, name="channels_app_inboundmessage_journal"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not warehouse_staff(request.user):
            health = journal_health()
            if health["alarm"]:
                self.message_user(
                    request,
                    _(
                        "The emergency intake journal holds %(records)d deliveries the "
                        "database has not taken yet."
                    )
                    % {"records": health["records"]},
                    messages.WARNING,
                )
        return super().changelist_view(request, extra_context)

    def journal_view(self, request: HttpRequest) -> HttpResponse:
        """Read-only: what this web host's emergency journal holds (counts, no content)."""
        if warehouse_staff(request.user) or not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Emergency intake journal"),
            "opts": self.model._meta,
            "health": journal_health(),
            "limits": {
                "records": settings.JOURNAL_ALARM_RECORDS,
                "age_s": settings.JOURNAL_ALARM_AGE_SECONDS,
                "bytes": int(JOURNAL_ALARM_FULL_SHARE * settings.JOURNAL_MAX_BYTES),
            },
        }
        return TemplateResponse(request, "admin/channels_app/inboundmessage/journal.html", context)

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

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A quarantined delivery belongs to no order: head office only.
        return not warehouse_staff(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the evidence of a refused delivery is kept


_RECEIPT_FIELDS: tuple[str, ...] = (
    "account", "key", "status", "reported_by", "received_at", "applied_at", "order",
    "fact_id_ref", "order_channel", "order_external_id", "scope_warehouse_id", "pending",
    "response_status", "response_body", "result",
)  # fmt: skip


@admin.register(SystemFactReceipt)
class SystemFactReceiptAdmin(admin.ModelAdmin[SystemFactReceipt]):
    """What the facts API received (as reported) and what applying it did; read-only."""

    list_display = ["id", "account", "key", "status", "order", "received_at", "applied_at"]
    list_filter = ["status", "account"]
    search_fields = ["key", "order_external_id"]
    date_hierarchy = "received_at"
    list_select_related = ["account", "order"]
    fields = _RECEIPT_FIELDS
    readonly_fields = _RECEIPT_FIELDS

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Receipts of every warehouse's systems, some for no order yet: head office only.
        return not warehouse_staff(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what a system reported is kept


class _NoWarehouseStaff:
    """Business settings: not for warehouse staff."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return not warehouse_staff(request.user) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not warehouse_staff(request.user) and super().has_view_permission(request, obj)  # type: ignore[misc]


class StatusMappingForm(forms.ModelForm[StatusMapping]):
    kind = forms.ChoiceField(label=_("channel kind"), choices=channel_kind_choices)
    change_reason = _reason_field()

    class Meta:
        model = StatusMapping
        fields = ["kind", "raw_status", "milestone", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields.pop("kind", None)  # the key of a mapping is read-only once stored

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        instance = self.instance
        try:
            status_mapping_validate(
                kind=instance.kind if instance.pk else data.get("kind", ""),
                raw_status=instance.raw_status if instance.pk else data.get("raw_status", ""),
                milestone=data.get("milestone") or "",
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(StatusMapping)
class StatusMappingAdmin(_NoWarehouseStaff, AuditedHistoryAdmin):
    form = StatusMappingForm
    list_display = ["kind", "raw_status", "milestone", "source", "note", "updated_at"]
    list_filter = ["kind", "source", "milestone"]
    search_fields = ["raw_status", "note"]
    change_list_template = "admin/channels_app/statusmapping/change_list.html"
    list_per_page = 200

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["kind", "raw_status", "source"] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["kind", "raw_status", "milestone", "note", "change_reason"]
        return ["kind", "raw_status", "source", "milestone", "note", "change_reason"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.source == MappingSource.BUILTIN:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        row, applied = status_mapping_save(
            kind=obj.kind if change else data["kind"], raw_status=obj.raw_status,
            milestone=obj.milestone, note=obj.note, user=request.user,
            reason=data.get("change_reason") or "",
        )  # fmt: skip
        obj.pk = row.pk
        if applied:
            self.message_user(request, _("%(count)d waiting fact(s) applied.") % {"count": applied})

    def delete_model(self, request: HttpRequest, obj: StatusMapping) -> None:
        status_mapping_delete(mapping_id=obj.pk, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StatusMapping]) -> None:
        edited = queryset.filter(source=MappingSource.OVERRIDE).order_by("pk")
        for mapping_id in edited.values_list("pk", flat=True):
            status_mapping_delete(mapping_id=mapping_id, user=request.user)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.unmapped_view)
        return [
            path("unmapped/", view, name="channels_app_statusmapping_unmapped"),
            *super().get_urls(),
        ]

    def unmapped_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Unmapped raw statuses"),
            "opts": self.model._meta,
            "rows": unmapped_status_list(),
        }
        return TemplateResponse(request, "admin/channels_app/statusmapping/unmapped.html", context)


def _channel_kind_or_all() -> list[tuple[str, str]]:
    return [("", str(_("every kind"))), *channel_kind_choices()]


class CredibilityRuleForm(forms.ModelForm[CredibilityRule]):
    channel_kind = forms.ChoiceField(
        label=_("channel kind"), choices=_channel_kind_or_all, required=False
    )
    change_reason = _reason_field()

    class Meta:
        model = CredibilityRule
        fields = ["name", "kind", "channel_kind", "params", "enabled", "action"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            credibility_rule_validate(
                name=data.get("name") or "", kind=data.get("kind") or "",
                channel_kind=data.get("channel_kind") or "",
                params=data.get("params") if data.get("params") is not None else {},
                action=data.get("action") or "",
            )  # fmt: skip
        except ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(CredibilityRule)
class CredibilityRuleAdmin(_NoWarehouseStaff, AuditedHistoryAdmin):
    form = CredibilityRuleForm
    list_display = ["name", "kind", "channel_kind", "enabled", "action"]
    list_filter = ["kind", "enabled"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        rule = credibility_rule_save(
            rule_id=obj.pk if change else None, name=obj.name, kind=obj.kind,
            channel_kind=obj.channel_kind, params=obj.params if obj.params is not None else {},
            enabled=obj.enabled, action=obj.action, user=request.user,
            reason=data.get("change_reason") or "",
        )  # fmt: skip
        obj.pk = rule.pk

    def delete_model(self, request: HttpRequest, obj: CredibilityRule) -> None:
        credibility_rule_delete(rule_id=obj.pk, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CredibilityRule]) -> None:
        for rule_id in queryset.order_by("pk").values_list("pk", flat=True):
            credibility_rule_delete(rule_id=rule_id, user=request.user)
