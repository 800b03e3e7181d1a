"""Alert rules, the incidents they open, the notifiers that carry messages, every delivery."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from health.alerts.choices import (
    Comparator,
    DeliveryStatus,
    IncidentStatus,
    MessageKind,
    NotifierKind,
    Severity,
)


class Notifier(models.Model):
    """Where messages go: one robot, mailbox, webhook or voice account.

    The URL and the secret are stored encrypted (``channels_app.crypto``, the keys of channel
    accounts); ``url_masked`` is what people see. A notifier with ``enabled`` off is never
    called (the default rules' notifiers start so until someone configures them).
    """

    kind = models.CharField(_("kind"), max_length=16, choices=NotifierKind.choices)
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    url_masked = models.CharField(_("URL"), max_length=500, blank=True, editable=False)
    options = models.JSONField(_("options"), default=dict, blank=True)
    secrets_encrypted = models.TextField(_("secrets (encrypted)"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["secrets_encrypted", "updated_at"])

    class Meta:
        verbose_name = _("notifier")
        verbose_name_plural = _("notifiers")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.kind})"


class AlertRule(models.Model):
    """A rule is data: ``metric`` (a name of ``health.alerts.metrics``) per subject, compared
    with ``threshold``; ``window_minutes`` is the metric's own window; the comparison must hold
    ``hold_for_minutes`` before an incident opens. ``escalation`` lists the reminders while
    nobody acknowledges: ``[{"after_minutes": 30, "notifiers": ["code"]}, ...]`` (minutes since
    the incident opened; ``notifiers`` empty = the rule's own). Edited through services only."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    enabled = models.BooleanField(_("enabled"), default=True)
    metric = models.CharField(_("metric"), max_length=64)
    comparator = models.CharField(_("comparator"), max_length=4, choices=Comparator.choices)
    threshold = models.DecimalField(_("threshold"), max_digits=12, decimal_places=2)
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=0)
    hold_for_minutes = models.PositiveIntegerField(_("must hold for (minutes)"), default=0)
    scope_warehouses = models.JSONField(
        _("only these warehouses"), default=list, blank=True, help_text=_("Codes; empty = all")
    )
    scope_channels = models.JSONField(
        _("only these channels"), default=list, blank=True, help_text=_("Codes; empty = all")
    )
    audience = models.CharField(
        _("who it is for"), max_length=200, blank=True, help_text=_("e.g. ops supervisor")
    )
    recipients = models.JSONField(
        _("recipients"),
        default=list,
        blank=True,
        help_text=_("Phone numbers (voice, @-mentions), e-mail addresses, WeCom user ids"),
    )
    notifiers = models.ManyToManyField(
        Notifier, blank=True, related_name="rules", verbose_name=_("notifiers")
    )
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    escalation = models.JSONField(_("escalation steps"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"], m2m_fields=[notifiers])

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code


class Incident(models.Model):
    """One firing of one rule about one subject (``warehouse:WH-A``). At most one not resolved
    per (rule, subject_key), held by a partial unique index. ``pending`` rows wait for
    ``hold_for`` and are deleted if the condition clears first (nothing was sent)."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="incidents", verbose_name=_("rule")
    )
    subject_key = models.CharField(_("subject"), max_length=128)
    warehouse = models.ForeignKey(
        "orderhub.Warehouse",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("warehouse"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.PENDING
    )
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    breach_started_at = models.DateTimeField(_("condition true since"))
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    escalation_step = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    next_reminder_at = models.DateTimeField(_("next reminder at"), null=True, blank=True)
    ack_nonce = models.CharField(max_length=32, editable=False)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-breach_started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="incident_one_open_per_rule_subject",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_reminder_at"],
                condition=models.Q(status="open"),
                name="incident_reminder_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} {self.subject_key}"


class Delivery(models.Model):
    """One message to one notifier: what was sent (a summary, never a secret), the answer
    (HTTP status or SMTP reply, the provider's own result) and the outcome. Transient failures
    wait in ``retry`` until ``not_before``; the beat sends them again, a bounded number of times.
    """

    notifier = models.ForeignKey(
        Notifier, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("notifier")
    )
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("incident"),
    )
    kind = models.CharField(_("message"), max_length=16, choices=MessageKind.choices)
    status = models.CharField(
        _("outcome"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    title = models.CharField(_("title"), max_length=300)
    text = models.TextField(_("text"))
    recipients = models.JSONField(_("recipients"), default=list, blank=True)
    payload_summary = models.JSONField(_("payload summary"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"))
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    transport_status = models.CharField(_("HTTP status / SMTP answer"), max_length=300, blank=True)
    provider_result = models.CharField(_("provider result"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["not_before"],
                condition=models.Q(status__in=["pending", "retry", "held", "sending"]),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.notifier_id} ({self.status})"
