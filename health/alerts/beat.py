"""The beat's task: evaluate every enabled rule and release the deliveries that are due."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from health.alerts.services.incidents import alerts_evaluate


@shared_task(name="alerts.evaluate", acks_late=True, time_limit=120, soft_time_limit=100)
def alerts_evaluate_task(*, now: str | None = None) -> dict[str, int]:
    """``now`` (ISO 8601) is for replays and tests; the beat leaves it out."""
    moment = datetime.fromisoformat(now) if now else timezone.now()
    return alerts_evaluate(now=moment)
