"""Celery entry points of the write-back relay: thin, idempotent, ids only."""

from __future__ import annotations

from celery import shared_task

from channels_app.outbound.relay import outbox_claim, outbox_entry_relay, outbox_relay_pending


@shared_task(name="channels.outbox_relay", ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_relay_task(entry_id: int) -> str:
    """Send one entry if it is due (a gone, sent, leased or spent entry is left alone)."""
    if not outbox_claim(limit=1, entry_id=entry_id):
        return ""
    return outbox_entry_relay(entry_id=entry_id)


@shared_task(name="channels.outbox_sweep", ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_sweep_task() -> int:
    """Beat: retries whose time came, entries whose relay died (expired lease) or whose
    relay task never reached the broker, and entries whose attempts are spent (failed)."""
    return outbox_relay_pending(limit=50)
