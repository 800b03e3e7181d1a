"""Anomalies (the gaps between systems the rules find) and the rules' editable settings."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from health.choices import AnomalyKind, FeedbackKind, Resolution, ReviewDecision


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


class AnomalyReview(models.Model):
    """A person's decision about an abnormal order, taken on the board. Written only by
    ``health.services.anomaly_review_record`` (which appends the ledger event)."""

    anomaly = models.ForeignKey(
        Anomaly, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("anomaly")
    )
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.CASCADE,
        related_name="+", verbose_name=_("order"),
    )  # fmt: skip
    decision = models.CharField(_("decision"), max_length=16, choices=ReviewDecision.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("reviewed by"),
    )  # fmt: skip
    reviewed_at = models.DateTimeField(_("reviewed at"))

    class Meta:
        verbose_name = _("anomaly review")
        verbose_name_plural = _("anomaly reviews")
        ordering = ["-reviewed_at", "-id"]
        indexes = [
            models.Index(fields=["anomaly", "reviewed_at"], name="anomalyreview_anomaly_idx")
        ]

    def __str__(self) -> str:
        return f"{self.anomaly_id}: {self.decision}"


class Feedback(models.Model):
    """A review, complaint or return a channel reported about an order, with its raw payload.

    ``dedupe_key`` (the platform's own id of the review/complaint/return) makes the same
    report arriving twice one row. ``province`` is the buyer's, as the order carries it.
    """

    channel = models.CharField(_("channel"), max_length=64)
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.CASCADE,
        related_name="feedback", verbose_name=_("order"),
    )  # fmt: skip
    kind = models.CharField(_("kind"), max_length=16, choices=FeedbackKind.choices)
    rating = models.PositiveSmallIntegerField(
        _("rating (1-5)"), null=True, blank=True, help_text=_("Reviews only")
    )
    positive = models.BooleanField(_("positive"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    external_id = models.CharField(_("platform id"), max_length=128)
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "kind", "external_id"], name="feedback_unique_platform_id"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "occurred_at"], name="feedback_kind_time_idx"),
            models.Index(fields=["order"], name="feedback_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} {self.external_id}"


class ScoreWeights(models.Model):
    """The health score's weights, edited by a business user in the admin (with history).
    One row (``code="default"``); written only by ``health.services.score_weights_update``."""

    code = models.CharField(_("code"), max_length=32, unique=True, default="default")
    sync_timeliness = models.DecimalField(
        _("sync timeliness"), max_digits=4, decimal_places=3, default=Decimal("0.400")
    )
    tracking_completeness = models.DecimalField(
        _("tracking completeness"), max_digits=4, decimal_places=3, default=Decimal("0.300")
    )
    positive_reviews = models.DecimalField(
        _("positive review rate"), max_digits=4, decimal_places=3, default=Decimal("0.200")
    )
    no_returns = models.DecimalField(
        _("1 - return rate"), max_digits=4, decimal_places=3, default=Decimal("0.100")
    )
    sync_window_seconds = models.PositiveIntegerField(_("mirrored within (seconds)"), default=90)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("health score weights")
        verbose_name_plural = _("health score weights")

    def __str__(self) -> str:
        return self.code


class ScoreDaily(models.Model):
    """The health score's counts of one past local day for one (channel, warehouse) pair,
    kept by ``health.board_services.score_daily_rollup`` so the board's trend reads rows
    instead of aggregating a week of facts per view. Derived data: recomputed, never edited."""

    day = models.DateField(_("day"))
    channel = models.CharField(_("channel"), max_length=64)
    warehouse = models.ForeignKey(
        "orderhub.Warehouse", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    sync_good = models.PositiveIntegerField(default=0)
    sync_total = models.PositiveIntegerField(default=0)
    tracking_good = models.PositiveIntegerField(default=0)
    tracking_total = models.PositiveIntegerField(default=0)
    reviews_good = models.PositiveIntegerField(default=0)
    reviews_total = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("daily score counts")
        verbose_name_plural = _("daily score counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "warehouse"], nulls_distinct=False,
                name="scoredaily_unique_day_subject",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.warehouse_id or '-'}"


class ScoreDailyRun(models.Model):
    """That a day was rolled up, and when (a day with no orders has no ``ScoreDaily`` rows)."""

    day = models.DateField(_("day"), unique=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("daily score roll-up")
        verbose_name_plural = _("daily score roll-ups")

    def __str__(self) -> str:
        return f"{self.day}"


class ScoreMinute(models.Model):
    """The sync-timeliness counts of the status facts received in one minute, for one
    (channel, warehouse) pair, folded by ``health.rollup.score_fold`` from the facts above its
    id watermark: the board's "today" and "last hour" read these rows plus the few facts not
    folded yet instead of scanning the day's facts. Derived data, kept about two days."""

    minute = models.DateTimeField(_("minute"))
    channel = models.CharField(_("channel"), max_length=64)
    warehouse = models.ForeignKey(
        "orderhub.Warehouse", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    sync_good = models.IntegerField(default=0)
    sync_total = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("minute score counts")
        verbose_name_plural = _("minute score counts")
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "channel", "warehouse"], nulls_distinct=False,
                name="scoreminute_unique_minute_subject",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.channel} {self.warehouse_id or '-'}"


class ScoreOrderFold(models.Model):
    """One order as the fold last saw it: the warehouse its folded facts are counted under,
    and the fields the tracking component reads (handed over when, tracking number, a courier
    event). Refreshed by ``score_fold`` for the orders of new facts and tracking events, and
    reconciled with the order each pass while it is recent (see ``health.rollup``)."""

    order = models.OneToOneField(
        "orderhub.Order", primary_key=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("order"),
    )  # fmt: skip
    channel = models.CharField(_("channel"), max_length=64)
    warehouse = models.ForeignKey(
        "orderhub.Warehouse", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("warehouse"),
    )  # fmt: skip
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    has_tracking_number = models.BooleanField(default=False)
    has_tracking_event = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(_("latest fact or event received at"))

    class Meta:
        verbose_name = _("order as folded")
        verbose_name_plural = _("orders as folded")
        indexes = [
            models.Index(fields=["shipped_at"], name="scoreorderfold_shipped_idx"),
            models.Index(fields=["last_seen_at"], name="scoreorderfold_seen_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}"


class ScoreFoldMark(models.Model):
    """How far the fold has read one table (the highest id folded), with the sync window the
    folded counts were made with and when the last pass ran."""

    source = models.CharField(_("source"), max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    sync_window_seconds = models.PositiveIntegerField(default=0)
    cutoff = models.DateTimeField(_("folded facts received before"), null=True, blank=True)
    folded_at = models.DateTimeField(_("folded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("score fold mark")
        verbose_name_plural = _("score fold marks")

    def __str__(self) -> str:
        return f"{self.source} ≤ {self.last_id}"


class AnomalyRank(models.Model):
    """The order fields the top-10 ranking needs (value, customer tier, warehouse), copied for
    each open order anomaly by ``score_fold``, so the ranking reads the open anomalies and this
    small table, never the orders. An anomaly not copied yet is ranked from its order."""

    anomaly = models.OneToOneField(
        Anomaly, primary_key=True, on_delete=models.CASCADE, related_name="ranking",
        verbose_name=_("anomaly"),
    )  # fmt: skip
    total_amount = models.DecimalField(max_digits=14, decimal_places=2)
    priority = models.PositiveSmallIntegerField()
    warehouse = models.ForeignKey(
        "orderhub.Warehouse", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("warehouse"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("anomaly ranking input")
        verbose_name_plural = _("anomaly ranking inputs")

    def __str__(self) -> str:
        return f"{self.anomaly_id}"
