"""Celery entry point of the lease sweep (beat: ``orderhub-allocation-sweep``)."""

from __future__ import annotations

from celery import shared_task

from orderhub.allocation.services import allocations_release_expired


@shared_task(
    name="orderhub.allocation_sweep",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=100,
    time_limit=120,
)
def allocations_release_expired_task() -> int:
    """Release the locks whose lease ran out. Safe to run twice or in parallel."""
    return allocations_release_expired()
