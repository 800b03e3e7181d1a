"""Celery entry points of the channels app: thin, idempotent, ids only."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from channels_app.services.processing import inbox_drain
from channels_app.services.system_facts import system_facts_drain


@shared_task(name="channels.inbox_drain", ignore_result=True, soft_time_limit=60, time_limit=90)
def inbox_drain_task() -> int:
    """Beat runs this every second; overlapping runs are safe (SKIP LOCKED claims). One run
    at a time watches the empty inbox for ``INBOX_WATCH_SECONDS`` and hands the watch over
    a beat interval before it stops."""
    interval = settings.CELERY_BEAT_SCHEDULE["channels-inbox-drain"]["schedule"]
    return inbox_drain(
        limit=settings.INBOX_BATCH_SIZE,
        budget_seconds=20.0,
        watch_seconds=settings.INBOX_WATCH_SECONDS,
        handoff_seconds=float(interval) + 0.5,
    )


@shared_task(name="channels.facts_apply", ignore_result=True, soft_time_limit=60, time_limit=90)
def facts_apply_task() -> int:
    """Beat runs this every second: the facts the facts API stored, applied in batches
    (overlapping runs are safe: SKIP LOCKED claims)."""
    return system_facts_drain(limit=settings.FACTS_BATCH_SIZE, budget_seconds=20.0)
