"""Channel accounts, the raw inbox of deliveries, quarantine, status mappings, credibility rules."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orderhub.choices import Milestone


def channel_kind_choices() -> list[tuple[str, str]]:
    """The kinds of the adapter registry, read when a form or a check asks (never at import:
    adapters register in ``ChannelsConfig.ready()``)."""
    from channels_app.adapters.base import adapters

    return [(kind, str(getattr(adapters.get(kind), "label", kind))) for kind in adapters]


class ChannelAccount(models.Model):
    """One merchant account on one platform. Secrets are stored encrypted (``crypto.py``)."""

    kind = models.CharField(_("kind"), max_length=32, db_index=True, choices=channel_kind_choices)
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    options = models.JSONField(_("options"), default=dict, blank=True)
    secrets_encrypted = models.TextField(_("secrets (encrypted)"), blank=True, editable=False)
    needs_attention = models.BooleanField(_("needs attention"), default=False)
    attention_reason = models.CharField(_("attention reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The ciphertext never enters the history: the ledger events name the secrets changed.
    history = HistoricalRecords(excluded_fields=["secrets_encrypted", "updated_at"])

    class Meta:
        verbose_name = _("channel account")
        verbose_name_plural = _("channel accounts")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.kind})"

    @property
    def system(self) -> str:
        """The ``StatusFact.system`` name of this account (see ``AccountConfig.system``)."""
        return f"{self.kind}:{self.code}"


class InboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    RETRY = "retry", _("Waiting for retry")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Handshake or ping (not processed)")
    HELD = "held", _("Held by a credibility rule")
    FAILED_TERMINAL = "failed_terminal", _("Failed (terminal)")


class InboxSource(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook")
    MANUAL_IMPORT = "manual_import", _("Manual import")
    POLL = "poll", _("Poll")


class InboundMessage(models.Model):
    """A verified delivery, stored before anything else is done with it.

    ``dedupe_key`` is the platform's delivery id, or ``sha256:<body hash>`` when it sends none;
    (account, dedupe_key) is unique, so a redelivery is the same row (``duplicate_count``).
    Workers claim rows with a lease (``lease_until``); processing is idempotent.
    """

    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="messages", verbose_name=_("account")
    )
    delivery_id = models.CharField(_("delivery id"), max_length=255, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=255)
    event_type = models.CharField(_("event type"), max_length=128, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.BinaryField(_("raw body"))
    payload = models.BinaryField(_("payload (decrypted form)"))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    received_at = models.DateTimeField(_("received at"), db_index=True)
    source = models.CharField(
        _("source"), max_length=16, choices=InboxSource.choices, default=InboxSource.WEBHOOK
    )
    actor = models.CharField(_("actor"), max_length=150, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=InboxStatus.choices, default=InboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    duplicate_count = models.PositiveIntegerField(_("duplicates received"), default=0)
    last_duplicate_at = models.DateTimeField(_("last duplicate at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    override_credibility = models.BooleanField(_("credibility rules overridden"), default=False)
    order_ids = models.JSONField(_("orders"), default=list, blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedupe_key"], name="inboundmessage_unique_dedupe"
            )
        ]
        indexes = [
            # The trace of an order finds its raw messages by containment (order_ids @> [id]).
            GinIndex(fields=["order_ids"], name="inbox_order_ids_gin"),
            models.Index(
                fields=["next_attempt_at", "id"],
                name="inbox_claimable_idx",
                condition=models.Q(status__in=["pending", "retry"]),
            ),
            models.Index(
                fields=["lease_until"],
                name="inbox_leased_idx",
                condition=models.Q(status="processing"),
            ),
            models.Index(fields=["status", "id"], name="inbox_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.account_id}:{self.dedupe_key}"


class QuarantinedDelivery(models.Model):
    """A delivery that failed verification (or named no usable account). Never processed."""

    account_code = models.CharField(_("account code"), max_length=64, db_index=True)
    reason = models.CharField(_("reason"), max_length=500)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.BinaryField(_("raw body"))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("answered status"))
    received_at = models.DateTimeField(_("received at"), db_index=True)

    class Meta:
        verbose_name = _("quarantined delivery")
        verbose_name_plural = _("quarantined deliveries")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.account_code}: {self.reason}"


class MappingSource(models.TextChoices):
    BUILTIN = "builtin", _("Built-in default")
    OVERRIDE = "override", _("Edited (overrides the default)")


class StatusMapping(models.Model):
    """The mapping of one raw status of one kind to a milestone.

    ``source=builtin`` rows mirror an adapter's ``default_status_map`` (kept in step by
    ``status_mappings_builtin_sync`` after every ``migrate``) so the admin lists them;
    ``source=override`` rows are a business user's edits and win over the defaults. An empty
    milestone means "known, ignore".
    """

    kind = models.CharField(_("channel kind"), max_length=32, choices=channel_kind_choices)
    raw_status = models.CharField(_("raw status"), max_length=128)
    milestone = models.CharField(
        _("milestone"), max_length=32, choices=Milestone.choices, blank=True
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=MappingSource.choices, default=MappingSource.OVERRIDE
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("status mapping")
        verbose_name_plural = _("status mappings")
        ordering = ["kind", "raw_status"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "raw_status"], name="statusmapping_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.raw_status} → {self.milestone or '-'}"


class CredibilityRuleKind(models.TextChoices):
    TEST_FLAG = "test_flag", _("Platform test order")
    FAKE_BUYER = "fake_buyer", _("Known fake buyer")
    BURST = "burst", _("Bot-like burst")


class CredibilityAction(models.TextChoices):
    QUARANTINE = "quarantine", _("Hold for review")


class CredibilityRule(models.Model):
    """A source-credibility rule applied to every normalized order before it is upserted.

    ``params``: fake_buyer → ``{"phones": [...], "emails": [...], "names": [...]}``;
    burst → ``{"max_orders": 20, "window_seconds": 60, "key": "phone"|"email"}``;
    test_flag → ``{}``. ``channel_kind`` empty = every kind.
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=CredibilityRuleKind.choices)
    channel_kind = models.CharField(
        _("channel kind"), max_length=32, blank=True, choices=channel_kind_choices
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    action = models.CharField(
        _("action"),
        max_length=16,
        choices=CredibilityAction.choices,
        default=CredibilityAction.QUARANTINE,
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credibility rule")
        verbose_name_plural = _("credibility rules")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


# --- Pull, write-back and reconciliation ---


class PollState(models.Model):
    """Where one pulled account's poll stands: its cursor and the lease of the running poll.

    A poll takes the lease with a conditional UPDATE (``lease_until < now``), so overlapping
    runs skip; the cursor is written in the same transaction as the stored page, and only by
    the lease holder (``lease_owner``).
    """

    account = models.OneToOneField(
        ChannelAccount, on_delete=models.CASCADE, related_name="poll_state",
        verbose_name=_("account"),
    )  # fmt: skip
    cursor = models.JSONField(_("cursor"), default=dict, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    lease_owner = models.CharField(_("lease owner"), max_length=64, blank=True)
    next_poll_at = models.DateTimeField(_("next poll not before"), null=True, blank=True)
    last_started_at = models.DateTimeField(_("last started at"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last finished at"), null=True, blank=True)
    last_outcome = models.CharField(_("last outcome"), max_length=32, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    pages_total = models.PositiveBigIntegerField(_("pages stored"), default=0)
    messages_total = models.PositiveBigIntegerField(_("messages stored"), default=0)
    rate_limited_total = models.PositiveBigIntegerField(_("rate-limit answers"), default=0)

    class Meta:
        verbose_name = _("poll state")
        verbose_name_plural = _("poll states")
        ordering = ["account"]

    def __str__(self) -> str:
        return f"poll {self.account_id}"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    RETRY = "retry", _("Waiting for retry")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    FAILED = "failed", _("Failed (terminal)")


class OutboxEntry(models.Model):
    """A write-back another system must receive, written in the transaction that caused it.

    ``idempotency_key`` is unique: the same milestone for the same order and account is one
    row however often the transition hook runs. The relay claims rows with a lease.
    """

    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="outbox_entries",
        verbose_name=_("account"),
    )  # fmt: skip
    order = models.ForeignKey(
        "orderhub.Order", on_delete=models.PROTECT, related_name="outbox_entries",
        verbose_name=_("order"),
    )  # fmt: skip
    action = models.CharField(_("action"), max_length=32)
    milestone = models.CharField(_("milestone"), max_length=32, choices=Milestone.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(
        _("status"), max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    remote_ref = models.CharField(_("remote reference"), max_length=255, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox entry")
        verbose_name_plural = _("outbox entries")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_claimable_idx",
                condition=models.Q(status__in=["pending", "retry"]),
            ),
            models.Index(
                fields=["lease_until"],
                name="outbox_leased_idx",
                condition=models.Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} order {self.order_id} → {self.account_id}"


class OutboundOutcome(models.TextChoices):
    STARTED = "started", _("Sent, no answer recorded")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ALREADY_DONE = "already_done", _("Already done at the platform")
    TRANSIENT = "transient", _("Transient error")
    TERMINAL = "terminal", _("Terminal error")


class OutboundCall(models.Model):
    """One HTTP call to another system, logged before it is sent and completed after."""

    outbox = models.ForeignKey(
        OutboxEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="calls",
        verbose_name=_("outbox entry"),
    )  # fmt: skip
    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="outbound_calls",
        verbose_name=_("account"),
    )  # fmt: skip
    order_id_ref = models.BigIntegerField(_("order"), null=True, blank=True, db_index=True)
    operation = models.CharField(_("operation"), max_length=64)
    method = models.CharField(_("method"), max_length=8)
    url = models.CharField(_("URL"), max_length=1000)
    request_body = models.TextField(_("request body"), blank=True)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=OutboundOutcome.choices,
        default=OutboundOutcome.STARTED,
    )  # fmt: skip
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("outbound call")
        verbose_name_plural = _("outbound calls")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.outcome}"


class ReconciliationRun(models.Model):
    """One comparison of what a channel says exists in a window with what was ingested."""

    account = models.ForeignKey(
        ChannelAccount, on_delete=models.CASCADE, related_name="reconciliation_runs",
        verbose_name=_("account"),
    )  # fmt: skip
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    started_at = models.DateTimeField(_("started at"), db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    channel_count = models.PositiveIntegerField(_("orders at the channel"), default=0)
    ingested_count = models.PositiveIntegerField(_("orders ingested"), default=0)
    missing_count = models.PositiveIntegerField(_("missing (gap)"), default=0)
    replayed_count = models.PositiveIntegerField(_("replayed"), default=0)
    missing_ids = models.JSONField(_("missing order ids (first 200)"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.account_id} {self.window_start:%Y-%m-%d %H:%M} gap {self.missing_count}"


# --- The facts API of the merchant's own systems (WMS, ERP, TMS) ---


class SystemReporter(models.Model):
    """A user whose API token may report facts and stock for one system account."""

    account = models.ForeignKey(
        ChannelAccount, on_delete=models.CASCADE, related_name="reporters",
        verbose_name=_("account"),
    )  # fmt: skip
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )

    class Meta:
        verbose_name = _("system reporter")
        verbose_name_plural = _("system reporters")
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="systemreporter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.account_id}"


class ReceiptStatus(models.TextChoices):
    RECEIVED = "received", _("Received, not applied yet")
    DONE = "done", _("Applied")
    WAITING = "waiting", _("Waiting for its order")
    APPLIED = "applied", _("Applied when its order arrived")
    REFUSED = "refused", _("Refused: the order belongs to another warehouse")


class SystemFactReceipt(models.Model):
    """One fact reported through ``POST /api/v1/facts/``, under its idempotency key.

    Stored first (``received``, the fact as reported in ``pending``) by the facts edge, which
    answers at once; ``system_facts_apply_received`` applies received receipts in batches
    (``done``, or ``waiting`` / ``refused``) and records what it did in ``result``.
    (account, key) is unique: the same key again is answered with ``response_body`` and
    nothing is written twice. A fact for an order not known yet is kept ``waiting`` with its
    normalized form in ``pending`` and applied in the transaction that creates the order.
    """

    # The facts edge's storing statement checks the account, the order and the reporter it
    # names in the same statement; database-level foreign keys would add a trigger and a
    # FOR KEY SHARE row lock on each (contended: every request locks the same account and
    # user rows). Django still applies PROTECT / SET_NULL on deletes. (account, key) is
    # unique: that index serves the account's look-ups too.
    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="fact_receipts",
        verbose_name=_("account"), db_index=False, db_constraint=False,
    )  # fmt: skip
    key = models.CharField(_("idempotency key"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=ReceiptStatus.choices, default=ReceiptStatus.DONE
    )
    response_status = models.PositiveSmallIntegerField(_("answered status"))
    response_body = models.JSONField(_("answered body"), default=dict)
    order = models.ForeignKey(
        "orderhub.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("order"), db_constraint=False,
    )  # fmt: skip
    fact_id_ref = models.BigIntegerField(_("status fact"), null=True, blank=True)
    order_channel = models.CharField(_("order channel"), max_length=64, blank=True)
    order_external_id = models.CharField(_("channel order id"), max_length=128, blank=True)
    # The account's warehouse when the fact was reported (a WMS speaks for one warehouse).
    scope_warehouse_id = models.BigIntegerField(_("reporting warehouse"), null=True, blank=True)
    pending = models.JSONField(_("waiting fact"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    # Who reported it (the token's user): the actor of the fact when it is applied.
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("reported by"), db_index=False, db_constraint=False,
    )  # fmt: skip
    # What applying it did: {"id": fact id, "order": order id, "outcome": ..., "milestone": ...}.
    result = models.JSONField(_("result"), default=dict, blank=True)

    class Meta:
        verbose_name = _("system fact receipt")
        verbose_name_plural = _("system fact receipts")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="systemfactreceipt_unique_key")
        ]
        indexes = [
            models.Index(
                fields=["order_channel", "order_external_id"],
                name="factreceipt_waiting_idx",
                condition=models.Q(status="waiting"),
            ),
            models.Index(
                fields=["id"],
                name="factreceipt_received_idx",
                condition=models.Q(status="received"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.key} ({self.status})"
