"""Anomalies (the gaps between systems the rules find) and the rules' editable settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from health.choices import AnomalyKind, Resolution


class Anomaly(models.Model):
    """One gap of one kind about one subject (``order:42``, ``channel:shop-1``…).

    At most one open anomaly per (kind, subject_key), held by a partial unique index; the
    engine opens them with ``INSERT … ON CONFLICT DO NOTHING`` and resolves them when new
    evidence shows the gap is closed. ``evidence_at`` is when the gap became true by the
    sources' clocks, ``opened_at`` when OrderHub noticed it.
    """

    kind = models.CharField(_("kind"), max_length=32, choices=AnomalyKind.choices)
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.CASCADE,
        related_name="anomalies", verbose_name=_("order"),
    )  # fmt: skip
    subject_type = models.CharField(_("subject type"), max_length=32, default="order")
    subject_key = models.CharField(_("subject"), max_length=128)
    opened_at = models.DateTimeField(_("opened at"))
    evidence_at = models.DateTimeField(_("evidence at"))
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=Resolution.choices, blank=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("resolved by"),
    )  # fmt: skip
    resolved_note = models.CharField(_("resolution note"), max_length=500, blank=True)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    resolved_by_action = models.CharField(
        _("resolved by action"), max_length=64, blank=True,
        help_text=_("The auto-repair action whose answer was followed by the closing evidence"),
    )  # fmt: skip
    escalate_at = models.DateTimeField(
        _("escalate at"), null=True, blank=True,
        help_text=_("People are to be alerted if the anomaly is still open at this time"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("anomaly")
        verbose_name_plural = _("anomalies")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="anomaly_one_open_per_subject",
            )
        ]
        indexes = [
            models.Index(fields=["order", "opened_at"], name="anomaly_order_idx"),
            models.Index(
                fields=["kind", "opened_at"],
                condition=models.Q(resolved_at__isnull=True),
                name="anomaly_open_kind_idx",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=models.Q(resolved_at__isnull=True, escalate_at__isnull=False),
                name="anomaly_escalate_idx",
            ),
            models.Index(fields=["opened_at"], name="anomaly_opened_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_key}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class RuleSetting(models.Model):
    """A rule's switch and thresholds (``params`` over the rule's defaults). Edited through
    ``health.services.rule_setting_update`` only; read afresh by every evaluation."""

    kind = models.CharField(_("kind"), max_length=32, choices=AnomalyKind.choices, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("rule setting")
        verbose_name_plural = _("rule settings")
        ordering = ["kind"]

    def __str__(self) -> str:
        return str(self.kind)


class RuleOverride(models.Model):
    """Thresholds of one rule for one channel (platforms differ), over the rule's setting."""

    kind = models.CharField(_("kind"), max_length=32, choices=AnomalyKind.choices)
    channel = models.CharField(_("channel"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("rule override")
        verbose_name_plural = _("rule overrides")
        ordering = ["kind", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel"], name="ruleoverride_unique_channel")
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.channel}"


class OrderCheck(models.Model):
    """When an order must be evaluated again for a rule about time passing (the sweep takes
    the due rows by this index). No row: nothing is due."""

    order = models.OneToOneField(
        "orderhub.Order", primary_key=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("order"),
    )  # fmt: skip
    next_check_at = models.DateTimeField(_("next check at"), db_index=True)

    class Meta:
        verbose_name = _("order check")
        verbose_name_plural = _("order checks")

    def __str__(self) -> str:
        return f"{self.order_id} @ {self.next_check_at:%Y-%m-%d %H:%M:%S}"


class CategoryChapters(models.Model):
    """Which HS chapters (two digits) fit a product category, for cross-border lines."""

    category = models.CharField(_("product category"), max_length=100, unique=True)
    chapters = models.JSONField(
        _("HS chapters"), default=list, blank=True, help_text=_('e.g. ["61", "62"]')
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("category HS chapters")
        verbose_name_plural = _("category HS chapters")
        ordering = ["category"]

    def __str__(self) -> str:
        return self.category


class ReplenishmentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class ReplenishmentOrder(models.Model):
    """A work order to bring one SKU of one warehouse up to its safety-stock level, created
    by the ``stock_shortage`` repair (``health.repairs``); people carry it out."""

    warehouse = models.ForeignKey(
        "orderhub.Warehouse", on_delete=models.PROTECT, related_name="+",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    sku = models.CharField(_("SKU"), max_length=64)
    quantity = models.PositiveIntegerField(_("quantity"))
    safety_stock = models.PositiveIntegerField(_("safety stock"))
    available = models.IntegerField(_("available when created"))
    status = models.CharField(
        _("status"), max_length=16, choices=ReplenishmentStatus.choices,
        default=ReplenishmentStatus.OPEN,
    )  # fmt: skip
    anomaly = models.ForeignKey(
        Anomaly, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("anomaly"),
    )  # fmt: skip
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("order"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("replenishment work order")
        verbose_name_plural = _("replenishment work orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "sku"],
                condition=models.Q(status="open"),
                name="replenishment_one_open_per_sku",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} +{self.quantity} ({self.status})"
