"""The customers app's listeners on the order core (added in ``CustomersConfig.ready()``).

- transitions to ``stock_locked``: queue the confirmation routing task on commit;
- transitions to ``paid`` of a key account's order: the fast lane (priority ``KEY_ACCOUNT``
  and a ship-by target ``KEY_ACCOUNT_SHIP_HOURS`` after payment), written in the transaction;
- orders created at intake: open a risk review for customers flagged for abusive returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from orderhub.choices import Milestone, Priority
from orderhub.customers.choices import CreditTier
from orderhub.customers.services.risk import risk_reviews_open_locked
from orderhub.customers.tasks import confirmation_route_task
from orderhub.effects import task_on_commit
from orderhub.hooks import TransitionEvent
from orderhub.models import Order
from orderhub.services.work import OrderWork
from traceability.services import ledger_append


def customer_transition_hook(events: Sequence[TransitionEvent]) -> None:
    paid: list[TransitionEvent] = []
    for event in events:
        if event.after == Milestone.STOCK_LOCKED:
            task_on_commit(confirmation_route_task, order_id=event.order.id)
        elif event.after == Milestone.PAID:
            paid.append(event)
    if paid:
        _fast_lane(paid)


def _fast_lane(events: Sequence[TransitionEvent]) -> None:
    orders = {
        o.pk: o
        for o in Order.objects.filter(
            pk__in=[e.order.id for e in events],
            customer__profile__tier=CreditTier.KEY_ACCOUNT,
        )
    }
    for event in events:
        order = orders.get(event.order.id)
        if order is None:
            continue
        ship_by = (order.paid_at or timezone.now()) + timedelta(
            hours=settings.KEY_ACCOUNT_SHIP_HOURS
        )
        before = {"priority": str(order.priority), "ship_by": str(order.ship_by or "")}
        order.priority, order.ship_by = Priority.KEY_ACCOUNT, ship_by
        order._change_reason = "key account fast lane"
        order.save(update_fields=["priority", "ship_by", "updated_at"])
        ledger_append(
            action="order.fast_lane",
            actor="system",
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system="credit",
            before=before,
            after={"priority": str(Priority.KEY_ACCOUNT.value), "ship_by": ship_by.isoformat()},
        )


def customer_created_hook(orders: Sequence[Order], work: OrderWork) -> None:
    risk_reviews_open_locked(orders, now=timezone.now())
