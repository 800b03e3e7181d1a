"""Back office: anomalies (read, resolve by hand) and the rules' editable thresholds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from health.board_services import WEIGHT_FIELDS, score_weights_update, score_weights_validate
from health.models import (
    Anomaly,
    AnomalyReview,
    CategoryChapters,
    Feedback,
    ReplenishmentOrder,
    RuleOverride,
    RuleSetting,
    ScoreWeights,
)
from health.services import (
    anomaly_resolve,
    category_chapters_set,
    rule_override_set,
    rule_params_validate,
    rule_setting_update,
)
from orderhub.admin_base import AuditedHistoryAdmin
from orderhub.selectors import order_visible_to


@admin.register(Anomaly)
class AnomalyAdmin(admin.ModelAdmin[Anomaly]):
    list_display = ["kind", "subject_key", "opened_at", "evidence_at", "deadline", "resolved_at",
                    "resolution", "resolved_by_action", "escalate_at"]  # fmt: skip
    list_filter = [
        "kind", "resolution", "resolved_by_action", ("resolved_at", admin.EmptyFieldListFilter),
        ("escalate_at", admin.EmptyFieldListFilter),
    ]  # fmt: skip
    search_fields = ["subject_key", "order__external_id"]
    readonly_fields = [field.name for field in Anomaly._meta.fields]
    actions = ["resolve_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Anomaly]:
        return super().get_queryset(request).filter(order__in=order_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Resolve the selected anomalies by hand"))
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Anomaly]) -> None:
        count = 0
        for anomaly_id in queryset.filter(resolved_at__isnull=True).values_list("pk", flat=True):
            anomaly_resolve(anomaly_id=anomaly_id, user=request.user, note="resolved in admin")
            count += 1
        self.message_user(request, _("%(count)d anomaly(ies) resolved.") % {"count": count},
                          messages.SUCCESS)  # fmt: skip


class _ParamsForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = self.instance.kind if self.instance.pk else data.get("kind", "")
        if "params" in data and kind:
            try:
                rule_params_validate(kind, data["params"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


@admin.register(RuleSetting)
class RuleSettingAdmin(AuditedHistoryAdmin):
    form = _ParamsForm
    list_display = ["kind", "enabled", "params", "updated_at"]
    fields = ["kind", "enabled", "params"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["kind"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = rule_setting_update(
            kind=obj.kind, enabled=obj.enabled, params=obj.params, user=request.user
        )
        obj.pk = row.pk


@admin.register(RuleOverride)
class RuleOverrideAdmin(AuditedHistoryAdmin):
    form = _ParamsForm
    list_display = ["kind", "channel", "params", "updated_at"]
    fields = ["kind", "channel", "params"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = rule_override_set(
            kind=obj.kind, channel=obj.channel, params=obj.params, user=request.user
        )
        obj.pk = row.pk


@admin.register(CategoryChapters)
class CategoryChaptersAdmin(AuditedHistoryAdmin):
    list_display = ["category", "chapters", "updated_at"]
    fields = ["category", "chapters"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = category_chapters_set(category=obj.category, chapters=obj.chapters, user=request.user)
        obj.pk = row.pk


@admin.register(ReplenishmentOrder)
class ReplenishmentOrderAdmin(AuditedHistoryAdmin):
    """Work orders the ``stock_shortage`` repair created (read-only here: people carry them
    out in the warehouse; the WMS's next stock report shows the result)."""

    list_display = ["sku", "warehouse", "quantity", "safety_stock", "available", "status",
                    "order", "anomaly", "created_at"]  # fmt: skip
    list_filter = ["status", "warehouse"]
    search_fields = ["sku", "order__external_id"]
    readonly_fields = [field.name for field in ReplenishmentOrder._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReplenishmentOrder]:
        """A warehouse user sees its own warehouses' work orders only (as with orders)."""
        queryset = super().get_queryset(request)
        user: Any = request.user
        if user.is_superuser:
            return queryset
        own = list(user.warehouses.values_list("pk", flat=True))
        return queryset.filter(warehouse_id__in=own) if own else queryset


class _ScoreWeightsForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if all(name in data and data[name] is not None for name in WEIGHT_FIELDS):
            try:
                score_weights_validate({name: data[name] for name in WEIGHT_FIELDS})
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


@admin.register(ScoreWeights)
class ScoreWeightsAdmin(AuditedHistoryAdmin):
    """The health score's weights: edited here by a business user, saved by the service
    (history row and ledger event); the four weights must add up to 1."""

    form = _ScoreWeightsForm
    list_display = ["code", *WEIGHT_FIELDS, "sync_window_seconds", "updated_at"]
    fields = [*WEIGHT_FIELDS, "sync_window_seconds"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ScoreWeights.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = score_weights_update(
            user=request.user,
            sync_window_seconds=obj.sync_window_seconds,
            **{name: getattr(obj, name) for name in WEIGHT_FIELDS},
        )
        obj.pk = row.pk


@admin.register(AnomalyReview)
class AnomalyReviewAdmin(admin.ModelAdmin[AnomalyReview]):
    """Decisions taken on the board (read-only: recorded by the board's review button)."""

    list_display = ["anomaly", "order", "decision", "reviewed_by", "reviewed_at"]
    list_filter = ["decision"]
    readonly_fields = [field.name for field in AnomalyReview._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AnomalyReview]:
        return super().get_queryset(request).filter(order__in=order_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin[Feedback]):
    """Reviews, complaints and returns the channels reported, with the raw payload."""

    list_display = ["channel", "kind", "external_id", "order", "rating", "positive", "province",
                    "occurred_at"]  # fmt: skip
    list_filter = ["kind", "channel", "positive"]
    search_fields = ["external_id", "order__external_id", "province"]
    readonly_fields = [field.name for field in Feedback._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return super().get_queryset(request).filter(order__in=order_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
