"""Thin Celery entry points of the health app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from health.services import anomalies_sweep


@shared_task(name="health.anomalies_sweep", time_limit=60, soft_time_limit=50)
def anomalies_sweep_task() -> int:
    """Evaluate the orders whose time-based check is due (beat, every few seconds)."""
    return anomalies_sweep(limit=settings.HEALTH_SWEEP_BATCH)


@shared_task(name="health.score_daily_rollup", time_limit=600, soft_time_limit=570)
def score_daily_rollup_task() -> int:
    """Roll up the past days the board's trend needs (beat, hourly). Returns rows written."""
    from django.utils import timezone

    from health.rollup import score_daily_rollup, score_rollup_due

    return sum(score_daily_rollup(day=day) for day in score_rollup_due(now=timezone.now()))


@shared_task(name="health.score_fold", time_limit=60, soft_time_limit=50)
def score_fold_task() -> int:
    """Fold the new facts into today's score counters (beat, every ~10 s). Returns how many."""
    from health.rollup import score_fold

    return score_fold().facts
