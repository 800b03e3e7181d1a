"""The ledger: an append-only record of everything that happened, sealed into a hash chain."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LedgerEvent(models.Model):
    """One appended event. ``seq``/``prev_hash``/``hash`` are filled by the sealer."""

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
