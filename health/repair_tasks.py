"""Celery entry points of the auto-repair (``health.repairs``)."""

from __future__ import annotations

from celery import shared_task

from health.repairs import anomaly_repair_run, anomaly_repairs_pending


@shared_task(name="health.anomaly_repair", time_limit=120, soft_time_limit=100)
def anomaly_repair_task(*, anomaly_id: int) -> str:
    """Run the repair of one anomaly that just opened (queued on the engine's commit)."""
    return anomaly_repair_run(anomaly_id=anomaly_id)


@shared_task(name="health.anomaly_repairs_sweep", time_limit=300, soft_time_limit=280)
def anomaly_repairs_sweep_task() -> int:
    """Beat: the repairs whose task was never delivered (a broker outage)."""
    return anomaly_repairs_pending(limit=50)
