from django.db import models
from django.utils.translation import gettext_lazy as _


class Comparator(models.TextChoices):
    GT = "gt", _("greater than")
    GTE = "gte", _("at least")
    LT = "lt", _("less than")
    LTE = "lte", _("at most")


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning (held in quiet hours)")
    CRITICAL = "critical", _("Critical (sent in quiet hours too)")


class NotifierKind(models.TextChoices):
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk custom robot")
    EMAIL = "email", _("E-mail (SMTP)")
    WEBHOOK = "webhook", _("Signed webhook")
    VOICE = "voice", _("Voice call (Tencent Cloud VMS)")


class IncidentStatus(models.TextChoices):
    PENDING = "pending", _("Pending (condition not yet held long enough)")
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class MessageKind(models.TextChoices):
    OPENED = "opened", _("Opened")
    REMINDER = "reminder", _("Reminder")
    RESOLVED = "resolved", _("Resolved")
    TEST = "test", _("Test")


class DeliveryStatus(models.TextChoices):
    HELD = "held", _("Held (quiet hours)")
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    RETRY = "retry", _("Waiting for retry")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
