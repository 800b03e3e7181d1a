from django.db import models
from django.utils.translation import gettext_lazy as _


class CreditTier(models.TextChoices):
    KEY_ACCOUNT = "key_account", _("Key account")
    STANDARD = "standard", _("Standard")
    UNDER_REVIEW = "under_review", _("Under review")


class TokenPurpose(models.TextChoices):
    CONFIRM = "confirm", _("Confirmation page")
    ORDER = "order", _("Order page")


class MessageKind(models.TextChoices):
    CONFIRM = "confirm", _("Confirmation request")
    REMINDER = "reminder", _("Reminder")


class MessageOutcome(models.TextChoices):
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped: no WeChat contact")


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLEARED = "cleared", _("Cleared")
    REJECTED = "rejected", _("Rejected")
