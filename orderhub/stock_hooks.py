"""The stock transition hook: reserve when an order is paid, release when it is cancelled.

Added to ``orderhub.hooks.transition_hooks`` in ``OrderHubConfig.ready()``. It only queues
tasks after commit, one message per flush for each (the orders of the flush, in the order
they moved); the tasks lock and write each order in its own transaction
(``orderhub.services.stock``).
"""

from __future__ import annotations

from collections.abc import Sequence

from orderhub.choices import Milestone
from orderhub.effects import task_on_commit
from orderhub.hooks import TransitionEvent
from orderhub.tasks import stock_release_for_orders_task, stock_reserve_for_orders_task


def stock_hook(events: Sequence[TransitionEvent]) -> None:
    """Runs inside the transitions' transaction; queues the stock tasks on commit (no I/O)."""
    reserve = [event.order.id for event in events if event.after == Milestone.PAID]
    release = [event.order.id for event in events if event.after == Milestone.CANCELLED]
    if reserve:
        task_on_commit(stock_reserve_for_orders_task, order_ids=list(dict.fromkeys(reserve)))
    if release:
        task_on_commit(stock_release_for_orders_task, order_ids=list(dict.fromkeys(release)))
