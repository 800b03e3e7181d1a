"""Who else must know: the typed registries of fact hooks and transition hooks.

The order core stores facts and moves orders (``orderhub.services``); the apps that listen
(write-back today; consistency rules, health and allocation next) add a hook here in their
``AppConfig.ready()``, under a key that names the app (a duplicate key fails start-up)::

    def ready(self) -> None:
        from channels_app.outbound.hooks import writeback_hook
        from orderhub.hooks import transition_hooks

        transition_hooks.add("channels.writeback", writeback_hook)

where ``writeback_hook(events: Sequence[TransitionEvent]) -> None``; a fact hook takes a
``Sequence[FactEvent]`` and goes into ``fact_hooks`` the same way.

Contract of every hook: called by ``OrderWork.flush`` once per flush (never with an empty
list), inside the transaction, after the facts, orders and history rows are written and with
the orders still locked; it may write rows in that transaction, and must not do I/O: anything
that leaves the database is queued with ``orderhub.effects.task_on_commit``. An exception in a
hook rolls the whole transaction back. Hooks receive frozen data, never ORM instances, and run
in the order of their keys (fact hooks before transition hooks). This module imports nothing
of the services, so listeners and the core depend on it, and never on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from orderhub.registry import Registry


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """The order fields listeners need, as they were at the moment the event describes.

    ``warehouse_code`` is "" when the order has no warehouse.
    """

    id: int
    channel: str
    external_id: str
    status: str
    warehouse_id: int | None
    warehouse_code: str
    carrier: str
    tracking_number: str
    priority: int
    order_type: str
    placed_at: datetime | None
    paid_at: datetime | None
    ship_by: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    status_changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TransitionEvent:
    """One fired transition. ``order`` is the order right after it (a later transition of
    the same flush does not show in it); ``fact_id`` is the fact that caused it, if any."""

    order: OrderSnapshot
    before: str
    after: str
    source: str
    fact_id: int | None = None


@dataclass(frozen=True, slots=True)
class FactEvent:
    """One status fact the flush stored (or applied again once its raw status was mapped).
    ``order`` is the order as the flush leaves it; ``outcome`` is the fact's ``FactOutcome``
    (advanced, skipped_ahead, confirmed, late, conflict, unmapped)."""

    fact_id: int
    order: OrderSnapshot
    system: str
    raw_status: str
    milestone: str
    occurred_at: datetime
    received_at: datetime
    outcome: str
    status_before: str
    status_after: str


FactHook = Callable[[Sequence[FactEvent]], None]
TransitionHook = Callable[[Sequence[TransitionEvent]], None]

fact_hooks: Registry[FactHook] = Registry("fact hooks")
transition_hooks: Registry[TransitionHook] = Registry("transition hooks")


def hooks_run(*, facts: Sequence[FactEvent], transitions: Sequence[TransitionEvent]) -> None:
    """Call every fact hook with ``facts`` and every transition hook with ``transitions``
    (a registry whose list is empty is not called). See the module docstring."""
    if facts:
        for _key, fact_hook in fact_hooks.items():
            fact_hook(facts)
    if transitions:
        for _key, transition_hook in transition_hooks.items():
            transition_hook(transitions)
