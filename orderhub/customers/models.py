"""Confirmation rules and requests, public-page tokens, credit policy and scores, risk reviews."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orderhub.choices import OrderType
from orderhub.customers.choices import (
    CreditTier,
    MessageKind,
    MessageOutcome,
    ReviewStatus,
    TokenPurpose,
)
from orderhub.models import Customer, Order


class ConfirmationRule(models.Model):
    """Which orders wait for the customer's confirmation before a warehouse works on them.

    A rule selects an order when every condition it sets holds (blank conditions are ignored;
    a rule that sets none selects nothing). Changed only through
    ``orderhub.customers.services.confirmation.confirmation_rule_save``.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    channel = models.CharField(_("channel"), max_length=64, blank=True)
    order_type = models.CharField(
        _("order type"), max_length=16, choices=OrderType.choices, blank=True
    )
    min_total = models.DecimalField(
        _("total at least"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    customer_under_review = models.BooleanField(
        _("customer under review"), default=False,
        help_text=_("Select orders of customers whose credit tier is 'under review'"),
    )  # fmt: skip
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("confirmation rule")
        verbose_name_plural = _("confirmation rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConfirmationRequest(models.Model):
    """The customer is asked to confirm one order. Open while neither confirmed nor refused."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="confirmations", verbose_name=_("order")
    )
    rule = models.ForeignKey(
        ConfirmationRule, null=True, blank=True, on_delete=models.SET_NULL,
        verbose_name=_("rule"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated to customer service"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    refused_at = models.DateTimeField(_("refused at"), null=True, blank=True)
    reason = models.CharField(_("refusal reason"), max_length=500, blank=True)
    device = models.JSONField(_("device"), default=dict, blank=True)

    class Meta:
        verbose_name = _("confirmation request")
        verbose_name_plural = _("confirmation requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(confirmed_at__isnull=True, refused_at__isnull=True),
                name="confirmation_one_open_per_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} confirmation #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None and self.refused_at is None


class AccessToken(models.Model):
    """A link sent to a customer: only the SHA-256 of the token is kept."""

    token_hash = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=TokenPurpose.choices)
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="+", verbose_name=_("order")
    )
    confirmation = models.ForeignKey(
        ConfirmationRequest, null=True, blank=True, on_delete=models.CASCADE,
        related_name="tokens", verbose_name=_("confirmation"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")

    def __str__(self) -> str:
        return f"{self.purpose} {self.order_id}"


class CustomerMessage(models.Model):
    """One WeChat Official Account template message: request and answer, kept as sent."""

    confirmation = models.ForeignKey(
        ConfirmationRequest, on_delete=models.CASCADE, related_name="messages",
        verbose_name=_("confirmation"),
    )  # fmt: skip
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices)
    url = models.CharField(_("URL"), max_length=1000)
    request_body = models.TextField(_("request body"))
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=MessageOutcome.choices)
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        verbose_name = _("customer message")
        verbose_name_plural = _("customer messages")
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome}"


class CreditPolicy(models.Model):
    """The weights and tier thresholds of the credit score: one row (pk 1), with history."""

    weight_punctuality = models.DecimalField(
        _("weight: payment punctuality"), max_digits=6, decimal_places=2, default=Decimal("40")
    )
    weight_frequency = models.DecimalField(
        _("weight: order frequency"), max_digits=6, decimal_places=2, default=Decimal("20")
    )
    weight_returns = models.DecimalField(
        _("weight: return rate"), max_digits=6, decimal_places=2, default=Decimal("20")
    )
    weight_abuse = models.DecimalField(
        _("weight: abusive returns"), max_digits=6, decimal_places=2, default=Decimal("20")
    )
    key_account_min = models.DecimalField(
        _("key account from score"), max_digits=5, decimal_places=2, default=Decimal("80")
    )
    standard_min = models.DecimalField(
        _("standard from score"), max_digits=5, decimal_places=2, default=Decimal("50"),
        help_text=_("Below this score a customer is under review"),
    )  # fmt: skip
    abuse_flag_at = models.PositiveIntegerField(
        _("abusive returns before a risk review"), default=2
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credit policy")
        verbose_name_plural = _("credit policy")

    def __str__(self) -> str:
        return str(_("Credit policy"))


class CustomerProfile(models.Model):
    """A customer's fulfilment credit and WeChat contact."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="profile", verbose_name=_("customer")
    )
    wechat_openid = models.CharField(_("WeChat openid"), max_length=64, blank=True)
    abusive_returns = models.PositiveIntegerField(_("abusive returns"), default=0)
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=2, null=True, blank=True)
    tier = models.CharField(
        _("tier"), max_length=16, choices=CreditTier.choices, default=CreditTier.STANDARD
    )
    components = models.JSONField(_("score components"), default=dict, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer credit")
        verbose_name_plural = _("customer credit")
        indexes = [models.Index(fields=["tier"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.tier}"


class RiskReview(models.Model):
    """An order of a customer flagged for abusive returns, held for customer service."""

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="risk_review", verbose_name=_("order")
    )
    opened_at = models.DateTimeField(_("opened at"))
    status = models.CharField(
        _("status"), max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    purpose = models.CharField(_("stated purpose of the purchase"), max_length=500, blank=True)
    reason = models.CharField(_("decision reason"), max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("decided by"),
    )  # fmt: skip
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("risk review")
        verbose_name_plural = _("risk reviews")
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class EscalatedConfirmation(ConfirmationRequest):
    """Unanswered confirmations escalated to customer service: the admin's work list."""

    class Meta:
        proxy = True
        verbose_name = _("escalated confirmation")
        verbose_name_plural = _("escalated confirmations")
