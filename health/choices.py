from django.db import models
from django.utils.translation import gettext_lazy as _


class AnomalyKind(models.TextChoices):
    """The gaps the consistency engine watches for (one rule per kind)."""

    STATUS_CONFLICT = "status_conflict", _("Status conflict")
    UNMAPPED_STATUS = "unmapped_status", _("Unmapped status")
    GHOST_SHIPMENT = "ghost_shipment", _("Ghost shipment")
    SYNC_LAG = "sync_lag", _("Sync lag")
    DUPLICATE_SHIPMENT = "duplicate_shipment", _("Duplicate shipment")
    STOCK_SHORTAGE = "stock_shortage", _("Stock shortage")
    SLA_AT_RISK = "sla_at_risk", _("Ship-by deadline at risk")
    TRACKING_STALLED = "tracking_stalled", _("Tracking stalled")
    CLOCK_MISMATCH = "clock_mismatch", _("Clock mismatch")
    CUSTOMS_HS_CODE = "customs_hs_code", _("Customs HS code")


class Resolution(models.TextChoices):
    AUTO = "auto", _("Automatically: new evidence closed the gap")
    MANUAL = "manual", _("By a person")


class ReviewDecision(models.TextChoices):
    """What a person decided about an abnormal order on the board."""

    CONFIRMED = "confirmed", _("Confirmed: needs handling")
    FALSE_ALARM = "false_alarm", _("False alarm")
    ESCALATED = "escalated", _("Escalated")


class FeedbackKind(models.TextChoices):
    """What a channel tells about an order after the sale."""

    REVIEW = "review", _("Review")
    COMPLAINT = "complaint", _("Complaint")
    RETURN = "return", _("Return")
