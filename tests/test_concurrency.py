"""Two connections racing on one order: exactly one transition takes effect."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from orderhub.choices import Milestone
from orderhub.exceptions import OrderConflictError, OrderTransitionError
from orderhub.models import Order
from orderhub.services import order_transition
from tests.factories import OrderFactory

M = Milestone


def race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run the calls at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = ("ok", call())
        except OrderTransitionError as exc:
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


SHIPPABLE = [M.PAID, M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED, M.WAYBILL_ISSUED]


@pytest.mark.django_db(transaction=True)
def test_concurrent_conflicting_transitions_exactly_one_takes_effect() -> None:
    """hand_over and cancel exclude each other: whichever commits first wins."""
    winners = set()
    for _ in range(6):  # several rounds so both interleavings are likely to occur
        order = OrderFactory.create()
        for target in SHIPPABLE:
            order_transition(order_id=order.pk, target=target)
        results = race(
            partial(order_transition, order_id=order.pk, target=M.HANDED_OVER),
            partial(order_transition, order_id=order.pk, target=M.CANCELLED),
        )
        assert sorted(kind for kind, _ in results) == ["error", "ok"]
        winner = next(value for kind, value in results if kind == "ok")
        loser = next(value for kind, value in results if kind == "error")
        final = Order.objects.get(pk=order.pk)
        assert final.status == winner.status
        assert (loser.current, loser.target) in (
            (M.HANDED_OVER, M.CANCELLED),
            (M.CANCELLED, M.HANDED_OVER),
        )
        assert loser.current == final.status
        assert f"cannot go from {final.status!r}" in str(loser) or isinstance(
            loser, OrderConflictError
        )
        statuses = list(final.history.order_by("history_id").values_list("status", flat=True))
        assert statuses == [M.PLACED, *SHIPPABLE, final.status]
        winners.add(final.status)
    assert winners <= {M.HANDED_OVER, M.CANCELLED}


@pytest.mark.django_db(transaction=True)
def test_concurrent_same_transition_is_applied_once_and_the_other_is_a_no_op() -> None:
    order = OrderFactory.create()
    results = race(
        lambda: order_transition(order_id=order.pk, target=M.PAID),
        lambda: order_transition(order_id=order.pk, target=M.PAID),
    )
    assert [kind for kind, _ in results] == ["ok", "ok"]
    final = Order.objects.get(pk=order.pk)
    assert final.status == M.PAID
    statuses = list(final.history.order_by("history_id").values_list("status", flat=True))
    assert statuses == [M.PLACED, M.PAID]


@pytest.mark.django_db(transaction=True)
def test_stale_copy_saved_without_the_service_raises_concurrent_transition() -> None:
    """The optimistic guard of ConcurrentTransitionMixin backs up the row lock."""
    from django_fsm import ConcurrentTransition

    order = OrderFactory.create()
    stale = Order.objects.get(pk=order.pk)
    order_transition(order_id=order.pk, target=M.PAID)
    stale.cancel()
    with pytest.raises(ConcurrentTransition):
        stale.save()
    assert Order.objects.get(pk=order.pk).status == M.PAID


@pytest.mark.django_db
def test_history_rows_carry_actor_and_reason() -> None:
    user = get_user_model().objects.create_superuser("supervisor", password="x")
    order = OrderFactory.create()
    order_transition(order_id=order.pk, target=M.PAID, user=user, reason="phone payment")
    record = Order.objects.get(pk=order.pk).history.latest("history_id")
    assert (record.status, record.history_user, record.history_change_reason) == (
        M.PAID, user, "phone payment",
    )  # fmt: skip
