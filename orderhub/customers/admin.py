"""Admin for confirmation rules, confirmations (escalations), credit policy, risk reviews.

Every change goes through a service (history row + ledger event); lists are read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orderhub.admin_base import AuditedHistoryAdmin, NotFoundOutsideScopeMixin
from orderhub.customers.choices import ReviewStatus
from orderhub.customers.exceptions import CustomerActionError
from orderhub.customers.models import (
    ConfirmationRequest,
    ConfirmationRule,
    CreditPolicy,
    CustomerMessage,
    CustomerProfile,
    EscalatedConfirmation,
    RiskReview,
)
from orderhub.customers.services.confirmation import RULE_FIELDS, confirmation_rule_save
from orderhub.customers.services.credit import (
    POLICY_FIELDS,
    credit_policy_save,
    credit_preview,
    customer_wechat_set,
)
from orderhub.customers.services.risk import risk_review_clear, risk_review_reject
from orderhub.selectors import order_visible_to


def _works_for_warehouses(request: HttpRequest) -> bool:
    user: Any = request.user
    return not user.is_superuser and user.warehouses.exists()


class _OrderScoped(NotFoundOutsideScopeMixin):
    """Rows of one order: a warehouse user sees those of its warehouses' orders only."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        if _works_for_warehouses(request):
            queryset = queryset.filter(order__in=order_visible_to(request.user))
        return queryset


@admin.register(ConfirmationRule)
class ConfirmationRuleAdmin(AuditedHistoryAdmin):
    list_display = ["name", "is_active", "channel", "order_type", "min_total"]
    list_filter = ["is_active"]
    fields = list(RULE_FIELDS)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = confirmation_rule_save(
            rule_id=obj.pk if change else None,
            values={name: form.cleaned_data[name] for name in RULE_FIELDS},
            user=request.user,
        )
        obj.pk = saved.pk


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = CustomerMessage
    extra = 0
    can_delete = False
    fields = ("kind", "outcome", "sent_at", "response_status", "request_body", "response_body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConfirmationRequest)
class ConfirmationRequestAdmin(_OrderScoped, _ReadOnly):
    list_display = [
        "order", "created_at", "reminded_at", "escalated_at", "confirmed_at", "refused_at",
    ]  # fmt: skip
    list_filter = [
        ("escalated_at", admin.EmptyFieldListFilter),
        ("confirmed_at", admin.EmptyFieldListFilter),
        ("refused_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["order__external_id"]
    list_select_related = ["order"]
    inlines = [MessageInline]


@admin.register(EscalatedConfirmation)
class EscalatedConfirmationAdmin(_OrderScoped, _ReadOnly):
    """Open confirmations nobody answered in time: customer service calls the customer."""

    list_display = ["order", "created_at", "reminded_at", "escalated_at"]
    list_select_related = ["order"]
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .filter(escalated_at__isnull=False, confirmed_at__isnull=True, refused_at__isnull=True)
        )


@admin.register(CustomerProfile)
class CustomerProfileAdmin(NotFoundOutsideScopeMixin, admin.ModelAdmin):
    """Scores are computed; only the WeChat openid is edited here (through its service)."""

    list_display = ["customer", "score", "tier", "abusive_returns", "computed_at"]
    list_filter = ["tier"]
    search_fields = ["customer__name"]
    list_select_related = ["customer"]
    fields = ["customer", "wechat_openid", "score", "tier", "components", "abusive_returns",
              "computed_at"]  # fmt: skip
    readonly_fields = ["customer", "score", "tier", "components", "abusive_returns", "computed_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if _works_for_warehouses(request):  # only the buyers of their warehouses' orders
            visible = order_visible_to(request.user).filter(customer__isnull=False)
            queryset = queryset.filter(customer_id__in=visible.values("customer_id"))
        return queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        customer_wechat_set(
            customer_id=obj.customer_id,
            openid=form.cleaned_data["wechat_openid"],
            user=request.user,
        )


class CreditPolicyForm(forms.ModelForm):
    class Meta:
        model = CreditPolicy
        fields = list(POLICY_FIELDS)


@admin.register(CreditPolicy)
class CreditPolicyAdmin(AuditedHistoryAdmin):
    form = CreditPolicyForm
    change_form_template = "admin/customers/creditpolicy/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CreditPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = credit_policy_save(
            values={name: form.cleaned_data[name] for name in POLICY_FIELDS},
            user=request.user,
            now=timezone.now(),
        )
        obj.pk = saved.pk

    def get_urls(self) -> list[URLPattern]:
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="customers_creditpolicy_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """How many customers would change tier with the posted values (nothing saved)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = CreditPolicyForm(request.POST or None)
        counts = None
        if request.method == "POST" and form.is_valid():
            counts = credit_preview(values=form.cleaned_data, now=timezone.now())
        return render(
            request,
            "admin/customers/creditpolicy/preview.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Credit policy preview"),
                "form": form,
                "counts": counts,
                "fields": POLICY_FIELDS,
                "change_url": reverse("admin:customers_creditpolicy_change", args=[1]),
                "opts": self.model._meta,
            },
        )


class RiskDecisionForm(forms.ModelForm):
    decision = forms.ChoiceField(
        label=_("decision"),
        choices=[(ReviewStatus.CLEARED, _("Clear")), (ReviewStatus.REJECTED, _("Reject"))],
    )

    class Meta:
        model = RiskReview
        fields = ["reason"]

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason", "")).strip()
        if not reason:
            raise forms.ValidationError(_("A decision needs a reason."))
        return reason


@admin.register(RiskReview)
class RiskReviewAdmin(_OrderScoped, admin.ModelAdmin):
    form = RiskDecisionForm
    list_display = ["order", "opened_at", "status", "decided_by", "decided_at"]
    list_filter = ["status"]
    list_select_related = ["order", "decided_by"]
    readonly_fields = ["order", "opened_at", "status", "purpose", "decided_by", "decided_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        decide = (
            risk_review_clear
            if form.cleaned_data["decision"] == ReviewStatus.CLEARED
            else risk_review_reject
        )
        try:
            decide(
                review_id=obj.pk,
                reason=form.cleaned_data["reason"],
                user=request.user,
                now=timezone.now(),
            )
        except CustomerActionError as exc:
            messages.error(request, str(exc))
