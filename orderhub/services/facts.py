from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

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
from orderhub.services.work import OrderWork
from orderhub.validation import status_fact_check
from traceability.services import LedgerEventIn


@transaction.atomic
def status_fact_record(*, order_id: int, fact: StatusFactIn, user: Any | None = None) -> StatusFact:
    """Store one system's status statement and move the order as far as it allows.

    Forward only: a fact ahead of the order walks every milestone in between (recorded as
    skipped); a fact behind it is stored as ``late`` and the status stays; a fact that
    contradicts a terminal branch is stored as ``conflict``. The same fact twice (same system,
    raw status and source time) returns the stored row and changes nothing. Locks the order.
    A source time outside the sane window or a text longer than its column raises
    ``OrderDataError`` naming the field, before anything is locked or written.
    """
    status_fact_check(fact)
    try:
        order = Order.objects.select_for_update().get(pk=order_id)
    except Order.DoesNotExist:
        raise OrderNotFoundError(f"order {order_id} does not exist") from None
    work = OrderWork()
    row = apply_fact_locked(order, fact, user=user, work=work)
    work.flush()
    if row is None:
        return StatusFact.objects.get(order=order, dedupe_key=fact.dedupe_key)
    return row


def apply_fact_locked(
    order: Order, fact: StatusFactIn, *, user: Any | None, work: OrderWork
) -> StatusFact | None:
    """``status_fact_record`` for an order the caller has already locked, written by ``work``.

    Returns the new fact, or ``None`` when this fact is already stored (nothing happens).
    The outcome is decided in memory from the order's current status.
    """
    if work.fact_is_stored(order.pk, fact.dedupe_key):
        return None
    milestone = fact.milestone or ""
    before = order.status
    outcome, path = _plan(before, milestone)
    row = StatusFact(
        order=order,
        system=fact.system,
        raw_status=fact.raw_status,
        milestone=milestone,
        occurred_at=fact.occurred_at,
        received_at=timezone.now(),
        outcome=outcome,
        status_before=before,
        status_after=path[-1] if path else before,
        skipped=path[:-1],
        dedupe_key=fact.dedupe_key,
        source_message_id=fact.source_message_id,
        note=fact.note[:255],
    )
    work.fact_add(row)
    _walk(order, row, path, user=user, work=work)
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


def _walk(
    order: Order,
    row: StatusFact,
    path: list[str],
    *,
    user: Any | None,
    work: OrderWork,
) -> None:
    """Fire the planned transitions of a stored fact and add its ledger events."""
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
            work=work,
            references={"fact_id": row.pk, "skipped": skipped},
            occurred_at=row.occurred_at,
            received_at=row.received_at,
        )
    work.ledger.append(
        LedgerEventIn(
            action="fact.recorded",
            actor=actor_label(user, source),
            order_id=order.pk,
            subject_type="status_fact",
            subject_id=row.pk,
            source_system=source,
            before={"status": row.status_before},
            after={"status": order.status, "outcome": row.outcome},
            references={
                "raw_status": row.raw_status,
                "milestone": row.milestone,
                "occurred_at": row.occurred_at.isoformat(),
                "skipped": row.skipped,
                "source_message_id": row.source_message_id,
            },
        )
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
    work = OrderWork()
    for row in rows:
        order = orders[row.order_id]
        outcome, path = _plan(order.status, milestone)
        row.milestone = milestone
        row.outcome = outcome
        row.status_before = order.status
        row.status_after = path[-1] if path else order.status
        row.skipped = path[:-1]
        row.save(update_fields=["milestone", "outcome", "status_before", "status_after", "skipped"])
        work.fact_reapplied(row, order=order)
        _walk(order, row, path, user=user, work=work)
    work.flush()
    return len(rows)
