from __future__ import annotations

from typing import Any

from django.db import transaction

from orderhub.choices import (
    CANCELLABLE,
    FORWARD_RANK,
    RETURNABLE,
    FactOutcome,
    Milestone,
)
from orderhub.domain import StatusFactIn
from orderhub.exceptions import OrderNotFoundError
from orderhub.models import Order, StatusFact
from orderhub.services.lifecycle import actor_label, step
from traceability.services import ledger_append


@transaction.atomic
def status_fact_record(*, order_id: int, fact: StatusFactIn, user: Any | None = None) -> StatusFact:
    """Store one system's status statement and move the order as far as it allows.

    Forward only: a fact ahead of the order walks every milestone in between (recorded as
    skipped); a fact behind it is stored as ``late`` and the status stays; a fact that
    contradicts a terminal branch is stored as ``conflict``. The same fact twice (same system,
    raw status and source time) returns the stored row and changes nothing. Locks the order.
    """
    try:
        order = Order.objects.select_for_update().get(pk=order_id)
    except Order.DoesNotExist:
        raise OrderNotFoundError(f"order {order_id} does not exist") from None
    return apply_fact_locked(order, fact, user=user)


def apply_fact_locked(order: Order, fact: StatusFactIn, *, user: Any | None) -> StatusFact:
    """``status_fact_record`` for an order the caller has already locked."""
    row, created = StatusFact.objects.get_or_create(
        order=order,
        dedupe_key=fact.dedupe_key,
        defaults={
            "system": fact.system,
            "raw_status": fact.raw_status,
            "milestone": fact.milestone or "",
            "occurred_at": fact.occurred_at,
            "source_message_id": fact.source_message_id,
            "note": fact.note[:255],
        },
    )
    if not created:
        return row
    _apply(order, row, user=user)
    return row


def _plan(current: str, milestone: str) -> tuple[str, list[str]]:
    """(outcome, milestones to pass through in order) for a fact on an order at ``current``."""
    if not milestone:
        return FactOutcome.UNMAPPED, []
    if milestone == current:
        return FactOutcome.CONFIRMED, []
    if milestone == Milestone.CANCELLED:
        return (
            (FactOutcome.ADVANCED, [milestone])
            if current in CANCELLABLE
            else (FactOutcome.CONFLICT, [])
        )
    if milestone == Milestone.RETURNED:
        return (
            (FactOutcome.ADVANCED, [milestone])
            if current in RETURNABLE
            else (FactOutcome.CONFLICT, [])
        )
    target_rank = FORWARD_RANK[milestone]
    if current == Milestone.CANCELLED:
        # Placed/paid happened before the cancel; anything further means goods moved anyway.
        late = target_rank <= FORWARD_RANK[Milestone.PAID]
        return (FactOutcome.LATE if late else FactOutcome.CONFLICT), []
    if current == Milestone.RETURNED:
        return FactOutcome.LATE, []
    current_rank = FORWARD_RANK[current]
    if target_rank < current_rank:
        return FactOutcome.LATE, []
    path = [
        name
        for name, rank in FORWARD_RANK.items()
        if current_rank < rank <= target_rank
        and (name != Milestone.AWAITING_CONFIRMATION or name == milestone)
    ]
    return (FactOutcome.ADVANCED if len(path) == 1 else FactOutcome.SKIPPED_AHEAD), path


def _apply(order: Order, row: StatusFact, *, user: Any | None) -> None:
    before = order.status
    outcome, path = _plan(before, row.milestone)
    source = row.system
    for target in path:
        skipped = target != path[-1]
        reason = f"fact {row.pk} from {source}: {row.raw_status!r}" + (
            " (skipped ahead)" if skipped else ""
        )
        step(
            order,
            target=target,
            user=user,
            source=source,
            reason=reason,
            references={"fact_id": row.pk, "skipped": skipped},
        )
    row.outcome = outcome
    row.status_before = before
    row.status_after = order.status
    row.skipped = path[:-1]
    row.save(update_fields=["outcome", "status_before", "status_after", "skipped"])
    ledger_append(
        action="fact.recorded",
        actor=actor_label(user, source),
        order_id=order.pk,
        subject_type="status_fact",
        subject_id=row.pk,
        source_system=source,
        before={"status": before},
        after={"status": order.status, "outcome": outcome},
        references={
            "raw_status": row.raw_status,
            "milestone": row.milestone,
            "occurred_at": row.occurred_at.isoformat(),
            "skipped": row.skipped,
            "source_message_id": row.source_message_id,
        },
    )


@transaction.atomic
def status_facts_reapply(
    *, system_prefix: str, raw_status: str, milestone: str, user: Any | None = None
) -> int:
    """Apply facts that were stored unmapped once someone maps their raw status.

    Takes order locks in id order. Returns how many facts were applied. Idempotent: applied
    facts are no longer ``unmapped``.
    """
    rows = list(
        StatusFact.objects.filter(
            system__startswith=system_prefix,
            raw_status=raw_status,
            outcome=FactOutcome.UNMAPPED,
        ).order_by("order_id", "occurred_at", "id")
    )
    order_ids = sorted({row.order_id for row in rows})
    orders = {
        order.pk: order
        for order in Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")
    }
    for row in rows:
        row.milestone = milestone
        row.save(update_fields=["milestone"])
        _apply(orders[row.order_id], row, user=user)
    return len(rows)
