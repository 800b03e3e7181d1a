"""Celery entry points of the channels app: thin, idempotent, ids only."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from channels_app.services.processing import inbox_drain


@shared_task(name="channels.inbox_drain", ignore_result=True, soft_time_limit=60, time_limit=90)
def inbox_drain_task() -> int:
    """Beat runs this every second; overlapping runs are safe (SKIP LOCKED claims)."""
    return inbox_drain(limit=settings.INBOX_BATCH_SIZE, budget_seconds=20.0)
