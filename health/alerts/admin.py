"""Back office of alerts: rules (audited services), notifiers (secrets write-only), incidents
and deliveries (read-only, warehouse-scoped)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from channels_app.crypto import SecretsDecryptError, secrets_decrypt
from health.alerts.choices import DeliveryStatus
from health.alerts.exceptions import AlertError
from health.alerts.metrics import metrics
from health.alerts.models import AlertRule, Delivery, Incident, Notifier
from health.alerts.selectors import incidents_visible_to, rule_metric_available
from health.alerts.services.incidents import incident_acknowledge
from health.alerts.services.notifiers import notifier_create, notifier_update
from health.alerts.services.rules import alert_rule_save
from health.alerts.services.testing import notifier_test


class AlertRuleForm(forms.ModelForm[AlertRule]):
    metric = forms.ChoiceField(label=_("metric"), choices=())

    class Meta:
        model = AlertRule
        fields = [
            "code",
            "name",
            "enabled",
            "metric",
            "comparator",
            "threshold",
            "window_minutes",
            "hold_for_minutes",
            "scope_warehouses",
            "scope_channels",
            "audience",
            "recipients",
            "notifiers",
            "severity",
            "quiet_start",
            "quiet_end",
            "escalation",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["metric"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, name) for name in metrics.names()]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin[AlertRule]):
    form = AlertRuleForm
    list_display = [
        "code",
        "name",
        "metric",
        "metric_state",
        "comparator",
        "threshold",
        "notifier_state",
        "severity",
        "enabled",
    ]
    list_filter = ["enabled", "metric", "severity"]
    search_fields = ["code", "name"]
    filter_horizontal = ["notifiers"]
    readonly_fields = ["metric_state", "notifier_state", "created_at", "updated_at"]

    @admin.display(description=_("metric state"))
    def metric_state(self, obj: AlertRule) -> str:
        return str(_("available")) if rule_metric_available(obj) else str(_("metric unavailable"))

    @admin.display(description=_("notifiers"))
    def notifier_state(self, obj: AlertRule) -> str:
        if obj.pk is None:
            return "-"
        notifiers = list(obj.notifiers.order_by("code"))
        if not notifiers:
            return str(_("no notifier: incidents open but nobody is told"))
        return ", ".join(
            n.code if n.enabled else f"{n.code} ({_('disabled, not configured')})"
            for n in notifiers
        )

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:
        try:
            alert_rule_save(
                rule=obj, notifiers=form.cleaned_data.get("notifiers"), user=request.user
            )
        except AlertError as exc:
            raise ValidationError(str(exc)) from exc

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the notifiers were set by the service in save_model


class NotifierForm(forms.ModelForm[Notifier]):
    new_url = forms.CharField(
        label=_("Set URL"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("Write-only; leave empty to keep the current URL"),
    )
    new_secret = forms.CharField(
        label=_("Set secret"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("Write-only; leave empty to keep the current secret"),
    )

    class Meta:
        model = Notifier
        fields = ["kind", "code", "name", "enabled", "options"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and not data.get("new_url"):
            raise ValidationError(_("A new notifier needs its URL."))
        return data


@admin.register(Notifier)
class NotifierAdmin(admin.ModelAdmin[Notifier]):
    form = NotifierForm
    list_display = ["code", "kind", "name", "url_masked", "secret_set", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["code", "name"]
    readonly_fields = ["url_masked", "secret_set", "created_at", "updated_at"]
    actions = ["send_test"]

    def get_readonly_fields(self, request: HttpRequest, obj: Notifier | None = None) -> Any:
        fields = list(self.readonly_fields)
        return [*fields, "kind", "code"] if obj is not None else fields

    @admin.display(description=_("secret set"), boolean=True)
    def secret_set(self, obj: Notifier) -> bool | None:
        try:
            return bool(secrets_decrypt(obj.secrets_encrypted).get("secret"))
        except SecretsDecryptError:
            return None

    def save_model(self, request: HttpRequest, obj: Notifier, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if obj.pk is None:
                saved = notifier_create(
                    kind=obj.kind,
                    code=obj.code,
                    url=data["new_url"],
                    secret=data["new_secret"],
                    options=obj.options,
                    name=obj.name,
                    enabled=obj.enabled,
                    user=request.user,
                    source="admin",
                )
                obj.pk = saved.pk
            else:
                notifier_update(
                    notifier_id=obj.pk,
                    user=request.user,
                    url=data["new_url"] or None,
                    secret=data["new_secret"] or None,
                    options=obj.options,
                    enabled=obj.enabled,
                    name=obj.name,
                )
        except AlertError as exc:
            raise ValidationError(str(exc)) from exc

    @admin.action(description=_("Send a test message"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[Notifier]) -> None:
        for notifier in queryset:
            delivery = notifier_test(notifier_id=notifier.pk)
            level = messages.SUCCESS if delivery.status == DeliveryStatus.SENT else messages.ERROR
            self.message_user(
                request,
                f"{notifier.code}: {delivery.get_status_display()} · {delivery.transport_status} "
                f"· {delivery.provider_result or delivery.error}",
                level,
            )


class DeliveryInline(admin.TabularInline[Delivery, Incident]):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = fields = (
        "created_at",
        "kind",
        "notifier",
        "status",
        "attempts",
        "transport_status",
        "provider_result",
        "error",
        "sent_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    list_display = [
        "id",
        "rule",
        "subject_key",
        "status",
        "value",
        "opened_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_at",
        "failed_deliveries",
    ]
    list_filter = ["status", "rule"]
    search_fields = ["subject_key", "rule__code"]
    inlines = [DeliveryInline]
    actions = ["acknowledge"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        return incidents_visible_to(request.user, super().get_queryset(request)).select_related(
            "rule", "acknowledged_by"
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in Incident._meta.fields if f.name != "ack_nonce"]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["ack_nonce"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("failed deliveries"))
    def failed_deliveries(self, obj: Incident) -> int:
        return obj.deliveries.filter(status=DeliveryStatus.FAILED).count()

    @admin.action(description=_("Acknowledge (stops reminders)"))
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        for incident in queryset.order_by("id"):
            try:
                incident_acknowledge(incident=incident, user=request.user, source="admin")
            except AlertError as exc:
                self.message_user(request, str(exc), messages.WARNING)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = [
        "id",
        "created_at",
        "kind",
        "notifier",
        "incident",
        "status",
        "attempts",
        "transport_status",
        "provider_result",
        "error",
    ]
    list_filter = ["status", "kind", "notifier__kind"]
    search_fields = ["notifier__code", "title"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        queryset = super().get_queryset(request).select_related("notifier", "incident")
        user: Any = request.user
        if user.is_superuser or not user.warehouses.exists():
            return queryset
        return queryset.filter(incident__in=incidents_visible_to(user))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
