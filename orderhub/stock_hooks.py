"""The stock transition hook: reserve when an order is paid, release when it is cancelled.

Added to ``orderhub.hooks.transition_hooks`` in ``OrderHubConfig.ready()``. It only queues
tasks after commit; the tasks lock and write (``orderhub.services.stock``).
"""

from __future__ import annotations

from collections.abc import Sequence

from orderhub.choices import Milestone
from orderhub.effects import task_on_commit
from orderhub.hooks import TransitionEvent
from orderhub.tasks import stock_release_for_order_task, stock_reserve_for_order_task


def stock_hook(events: Sequence[TransitionEvent]) -> None:
    """Runs inside the transitions' transaction; queues the stock tasks on commit (no I/O)."""
    for event in events:
        if event.after == Milestone.PAID:
            task_on_commit(stock_reserve_for_order_task, order_id=event.order.id)
        elif event.after == Milestone.CANCELLED:
            task_on_commit(stock_release_for_order_task, order_id=event.order.id)
