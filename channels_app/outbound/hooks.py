"""Registers the write-back transition hook (and, by importing them, the pull and relay
tasks). Imported once from ``ChannelsConfig.ready()``."""

from __future__ import annotations

from channels_app.outbound import shop_writers as _shop_writers  # noqa: F401 - registers
from channels_app.outbound import tasks as _outbound_tasks  # noqa: F401 - registers tasks
from channels_app.outbound.services import outbox_entries_for_transition
from channels_app.pull import tasks as _pull_tasks  # noqa: F401 - registers tasks
from orderhub.models import Order
from orderhub.services.lifecycle import transition_hooks


@transition_hooks.register("channels.writeback")
def writeback_hook(order: Order, before: str, after: str, source: str) -> None:
    """Runs inside the transition's transaction with the order locked; writes rows only."""
    outbox_entries_for_transition(order=order, before=before, after=after, source=source)
