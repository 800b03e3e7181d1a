"""Moving one locked order along its state machine. Callers hold the row lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django_fsm import can_proceed

from orderhub.choices import Milestone
from orderhub.exceptions import OrderTransitionError
from orderhub.models import TRANSITION_TO, Order
from orderhub.services.work import OrderWork
from traceability.services import LedgerEventIn

# The time field stamped when an order first reaches a milestone, and its received-at twin.
_STAMP: dict[str, tuple[str, str]] = {
    Milestone.PAID: ("paid_at", "paid_received_at"),
    Milestone.HANDED_OVER: ("shipped_at", "shipped_received_at"),
    Milestone.DELIVERED: ("delivered_at", "delivered_received_at"),
}


def actor_label(user: Any | None, source: str) -> str:
    return user.get_username() if user is not None else source


def step(
    order: Order,
    *,
    target: str,
    user: Any | None,
    source: str,
    reason: str,
    work: OrderWork,
    references: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    received_at: datetime | None = None,
) -> None:
    """Fire the one transition that leads to ``target`` in memory and record it in ``work``.

    Precondition: ``order`` was read with ``select_for_update`` in the current transaction.
    ``work.flush()`` saves the order, writes its history and ledger event and runs the
    transition hooks (``orderhub.hooks``); ``references["fact_id"]`` names the causing fact.

    Milestone times (``_STAMP``: paid, handed over → shipped, delivered) are stamped the first
    time the order reaches the milestone and never overwritten: the time is ``occurred_at``
    (the source's clock of the fact that moved the order), its ``*_received_at`` twin is
    ``received_at`` (when OrderHub received that fact). A fact that skips ahead walks every
    milestone in between through this function, so it stamps the skipped ones too, with its
    own times (a ``handed_over`` fact on a placed order stamps ``paid_at`` and
    ``shipped_at``). Without a fact (a manual transition) both are now.
    """
    method = getattr(order, TRANSITION_TO[target])
    if not can_proceed(method):
        raise OrderTransitionError(order_id=order.pk, current=order.status, target=target)
    before = order.status
    method()
    now = timezone.now()
    order.status_changed_at = now
    fields = ["status", "status_changed_at"]
    stamp = _STAMP.get(target)
    if stamp and getattr(order, stamp[0]) is None:
        at_field, received_field = stamp
        setattr(order, at_field, occurred_at or now)
        setattr(order, received_field, received_at or now)
        fields += [at_field, received_field]
    work.order_changed(order, fields, user=user, reason=reason)
    work.ledger.append(
        LedgerEventIn(
            action="order.transition",
            actor=actor_label(user, source),
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=source,
            before={"status": before},
            after={"status": order.status},
            references={"reason": reason, **(references or {})},
        )
    )
    fact_id = (references or {}).get("fact_id")
    work.transitioned(
        order,
        before=before,
        after=order.status,
        source=source,
        fact_id=int(fact_id) if fact_id is not None else None,
    )
