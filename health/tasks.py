"""Thin Celery entry points of the health app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from health.services import anomalies_sweep


@shared_task(name="health.anomalies_sweep", time_limit=60, soft_time_limit=50)
def anomalies_sweep_task() -> int:
    """Evaluate the orders whose time-based check is due (beat, every few seconds)."""
    return anomalies_sweep(limit=settings.HEALTH_SWEEP_BATCH)
