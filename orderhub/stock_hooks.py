"""Registers the stock transition hook: reserve when an order is paid, release on cancel.

Imported once from ``OrderHubConfig.ready()``. The hook only queues tasks after commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from orderhub.choices import Milestone
from orderhub.effects import task_on_commit
from orderhub.services.lifecycle import transition_hooks
from orderhub.services.work import Transition
from orderhub.tasks import stock_release_for_order_task, stock_reserve_for_order_task


@transition_hooks.register("orderhub.stock")
def stock_hook(transitions: Sequence[Transition]) -> None:
    """Runs inside the transitions' transaction; queues the stock tasks on commit (no I/O)."""
    for transition in transitions:
        if transition.after == Milestone.PAID:
            task_on_commit(stock_reserve_for_order_task, order_id=transition.order.pk)
        elif transition.after == Milestone.CANCELLED:
            task_on_commit(stock_release_for_order_task, order_id=transition.order.pk)
