from __future__ import annotations

from celery import shared_task

from traceability.services import ledger_seal_and_checkpoint


@shared_task(name="traceability.ledger_seal", acks_late=True, time_limit=120, soft_time_limit=100)
def ledger_seal_task() -> dict[str, int | bool]:
    """Seal committed ledger events and sign the newest checkpoint if anything was sealed since
    the last one. Safe to run twice or concurrently: a second run finds the sealer's lock
    taken and returns. Runs on ``LEDGER_SEAL_QUEUE``, as the user that holds the signing key."""
    result = ledger_seal_and_checkpoint()
    return {"sealed": result.sealed, "head_seq": result.head_seq, "skipped": result.skipped_locked}
