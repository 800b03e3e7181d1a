"""Registers the write-back transition hook (and, by importing them, the pull and relay
tasks). Imported once from ``ChannelsConfig.ready()``."""

from __future__ import annotations

from collections.abc import Sequence

from channels_app.outbound import shop_writers as _shop_writers  # noqa: F401 - registers
from channels_app.outbound import tasks as _outbound_tasks  # noqa: F401 - registers tasks
from channels_app.outbound.services import outbox_entries_for_transitions
from channels_app.pull import tasks as _pull_tasks  # noqa: F401 - registers tasks
from orderhub.services.lifecycle import transition_hooks
from orderhub.services.work import Transition


@transition_hooks.register("channels.writeback")
def writeback_hook(transitions: Sequence[Transition]) -> None:
    """Runs inside the transitions' transaction with the orders locked; writes rows only."""
    outbox_entries_for_transitions(transitions)
