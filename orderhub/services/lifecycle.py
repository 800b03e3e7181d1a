"""Moving one locked order along its state machine. Callers hold the row lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed

from orderhub.choices import Milestone
from orderhub.exceptions import OrderConflictError, OrderTransitionError
from orderhub.models import TRANSITION_TO, Order
from orderhub.registry import Registry
from traceability.services import LedgerEventIn

# Work another app must do in the SAME transaction as a transition, such as writing an outbox
# row for a write-back. Called as hook(order, before, after, source) with the order row locked;
# a hook must not do I/O (queue it on commit instead). Apps register in AppConfig.ready().
TransitionHook = Callable[[Order, str, str, str], None]
transition_hooks: Registry[TransitionHook] = Registry("transition hooks")

# The timestamp field stamped when an order first reaches a milestone.
_STAMP: dict[str, str] = {
    Milestone.PAID: "paid_at",
    Milestone.HANDED_OVER: "shipped_at",
    Milestone.DELIVERED: "delivered_at",
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
    ledger: list[LedgerEventIn],
    references: dict[str, Any] | None = None,
) -> None:
    """Fire the one transition that leads to ``target``, save it and write its history.

    Precondition: ``order`` was read with ``select_for_update`` in the current transaction.
    The ledger event is added to ``ledger``; the calling service appends the batch.
    """
    method = getattr(order, TRANSITION_TO[target])
    if not can_proceed(method):
        raise OrderTransitionError(order_id=order.pk, current=order.status, target=target)
    before = order.status
    method()
    now = timezone.now()
    order.status_changed_at = now
    fields = ["status", "status_changed_at", "updated_at"]
    stamp = _STAMP.get(target)
    if stamp and getattr(order, stamp) is None:
        setattr(order, stamp, now)
        fields.append(stamp)
    order._history_user = user  # type: ignore[attr-defined]
    order._change_reason = reason  # type: ignore[attr-defined]
    try:
        order.save(update_fields=fields)
    except ConcurrentTransition as exc:
        fresh = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        raise OrderConflictError(order_id=order.pk, current=fresh or "?", target=target) from exc
    ledger.append(
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
    for _name, hook in transition_hooks.items():
        hook(order, before, order.status, source)
