"""The write-back listener of the order core's transition hooks.

Registered by ``ChannelsConfig.ready()`` under ``channels.writeback``; importing this module
registers nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from channels_app.outbound.services import outbox_entries_for_transitions
from orderhub.hooks import TransitionEvent


def writeback_hook(transitions: Sequence[TransitionEvent]) -> None:
    """Runs inside the transitions' transaction with the orders locked; writes rows only and
    queues the relay on commit."""
    outbox_entries_for_transitions(transitions)
