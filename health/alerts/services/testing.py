"""One test message through a notifier, sent at once (``notify_test``, the admin action)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from health.alerts.choices import DeliveryStatus, MessageKind
from health.alerts.messages import test_message
from health.alerts.models import Delivery, Notifier
from health.alerts.services.deliveries import delivery_send


def notifier_test(*, notifier_id: int, recipients: list[str] | None = None) -> Delivery:
    """Send one test message (also through a disabled notifier: that is how one is tried
    before it is switched on) and return its delivery with the answer. Not retried."""
    now = timezone.now()
    title, text = test_message()
    with transaction.atomic():
        notifier = Notifier.objects.get(pk=notifier_id)
        delivery = Delivery.objects.create(
            notifier=notifier,
            kind=MessageKind.TEST,
            status=DeliveryStatus.PENDING,
            title=title,
            text=text,
            recipients=list(recipients or []),
            not_before=now,
            created_at=now,
        )
    delivery_send(delivery_id=delivery.pk, max_attempts=1)
    delivery.refresh_from_db()
    return delivery
