"""Thin Celery entry point of deliveries (the beat's evaluation is in ``health.alerts.beat``)."""

from __future__ import annotations

from celery import shared_task

from health.alerts.services.deliveries import delivery_send


@shared_task(name="alerts.delivery_send", acks_late=True, time_limit=60, soft_time_limit=45)
def delivery_send_task(*, delivery_id: int) -> str:
    """Send one delivery; a delivery gone, already sent or taken by another worker is skipped."""
    return delivery_send(delivery_id=delivery_id)
