"""Celery entry points of the pull channels: beat fans out one task per account (sent with
``task_on_commit``: at once, as no transaction is open; a broker that is down is logged and the
next beat fans out again)."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from channels_app.pull.reconcile import channel_reconcile
from channels_app.pull.services import account_poll, pulled_account_ids
from orderhub.effects import task_on_commit


@shared_task(name="channels.poll_fanout", ignore_result=True, soft_time_limit=30, time_limit=60)
def poll_fanout_task() -> int:
    """Beat: one poll task per enabled pulled account (the lease makes overlaps skip)."""
    ids = pulled_account_ids()
    for account_id in ids:
        task_on_commit(account_poll_task, expires=60, account_id=account_id)
    return len(ids)


@shared_task(name="channels.account_poll", ignore_result=True, soft_time_limit=90, time_limit=120)
def account_poll_task(account_id: int) -> str:
    budget = float(getattr(settings, "POLL_BUDGET_SECONDS", 45))
    return account_poll(account_id=account_id, budget_seconds=budget).outcome


@shared_task(
    name="channels.reconcile_fanout", ignore_result=True, soft_time_limit=30, time_limit=60
)
def reconcile_fanout_task() -> int:
    """Beat: reconcile each pulled account over the recent window (ending 5 minutes ago)."""
    end = timezone.now() - timedelta(minutes=5)
    start = end - timedelta(minutes=float(getattr(settings, "RECONCILE_WINDOW_MINUTES", 120)))
    ids = pulled_account_ids()
    for account_id in ids:
        task_on_commit(
            account_reconcile_task,
            expires=600,
            account_id=account_id,
            start=start.isoformat(),
            end=end.isoformat(),
        )
    return len(ids)


@shared_task(
    name="channels.account_reconcile", ignore_result=True, soft_time_limit=240, time_limit=300
)
def account_reconcile_task(account_id: int, start: str, end: str) -> int:
    run = channel_reconcile(
        account_id=account_id,
        window_start=datetime.fromisoformat(start),
        window_end=datetime.fromisoformat(end),
    )
    return run.missing_count if run else 0
