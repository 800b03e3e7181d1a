"""The ledger: an append-only record of everything that happened, sealed into a hash chain.

Events are appended cheaply by any transaction (``LedgerEvent``); the sealer later gives each
committed event a place in one chain (``LedgerSeal``: seq, predecessor hash, own hash). Neither
table is ever updated or deleted: database triggers refuse it (migration 0002).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LedgerEvent(models.Model):
    """One appended event. Its place in the chain is its ``LedgerSeal`` row."""

    created_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.CharField(_("actor"), max_length=150)
    action = models.CharField(_("action"), max_length=64)
    order_id = models.BigIntegerField(_("order"), null=True, blank=True)
    subject_type = models.CharField(_("subject type"), max_length=64, blank=True)
    subject_id = models.CharField(_("subject id"), max_length=64, blank=True)
    source_system = models.CharField(_("source system"), max_length=64, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    references = models.JSONField(_("references"), default=dict, blank=True)

    class Meta:
        verbose_name = _("ledger event")
        verbose_name_plural = _("ledger events")
        ordering = ["id"]
        indexes = [models.Index(fields=["order_id", "id"], name="ledger_order_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.subject_type}:{self.subject_id}"


class LedgerSeal(models.Model):
    """An event's place in the chain: ``hash = sha256(prev_hash + canonical(event, seq))``."""

    seq = models.BigIntegerField(_("sequence"), primary_key=True)
    event = models.OneToOneField(
        LedgerEvent,
        on_delete=models.PROTECT,
        related_name="seal",
        verbose_name=_("event"),
    )
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    sealed_at = models.DateTimeField(_("sealed at"))

    class Meta:
        verbose_name = _("ledger seal")
        verbose_name_plural = _("ledger seals")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.seq} {self.hash[:12]}"
