"""The order core tells its listeners through the typed hook registries: once per flush, with
frozen events, inside the transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from orderhub.choices import FactOutcome, Milestone
from orderhub.domain import StatusFactIn
from orderhub.hooks import (
    FactEvent,
    OrderSnapshot,
    TransitionEvent,
    fact_hooks,
    transition_hooks,
)
from orderhub.models import Order, StatusFact
from orderhub.registry import RegistryError
from orderhub.services import order_transition, status_fact_record, status_facts_reapply
from tests.factories import OrderFactory, WarehouseFactory

M = Milestone
WMS = "wms:WH-SH"
AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


class Heard:
    def __init__(self) -> None:
        self.facts: list[list[FactEvent]] = []
        self.transitions: list[list[TransitionEvent]] = []

    def fact_hook(self, events: Sequence[FactEvent]) -> None:
        self.facts.append(list(events))

    def transition_hook(self, events: Sequence[TransitionEvent]) -> None:
        self.transitions.append(list(events))


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> Heard:
    listener = Heard()
    monkeypatch.setitem(fact_hooks._entries, "tests.listener", listener.fact_hook)
    monkeypatch.setitem(transition_hooks._entries, "tests.listener", listener.transition_hook)
    return listener


def test_write_back_is_registered_once_from_ready() -> None:
    assert list(transition_hooks) == [
        "channels.courier_subscribe",
        "channels.writeback",
        "customers.confirmation_and_fast_lane",
        "health.rules",
        "orderhub.allocation",
        "orderhub.stock",
    ]
    assert list(fact_hooks) == ["channels.courier_subscribe", "health.rules"]
    with pytest.raises(RegistryError, match="already registered"):
        transition_hooks.add("channels.writeback", lambda events: None)


@pytest.mark.django_db
def test_a_fact_that_skips_ahead_is_one_fact_event_and_one_call_with_every_transition(
    heard: Heard,
) -> None:
    warehouse = WarehouseFactory.create(code="WH-SH")
    order = OrderFactory.create(warehouse=warehouse, carrier="shunfeng", tracking_number="SF1")
    order_transition(order_id=order.pk, target=M.PAID)
    heard.facts.clear()
    heard.transitions.clear()

    row = status_fact_record(
        order_id=order.pk, fact=StatusFactIn(WMS, "PICKED", M.PICKED_PACKED, AT)
    )

    assert len(heard.facts) == 1
    [fact] = heard.facts[0]
    stored = Order.objects.get(pk=order.pk)
    assert fact == FactEvent(
        fact_id=row.pk,
        order=OrderSnapshot(
            id=order.pk, channel="shopify-main", external_id=order.external_id,
            status=M.PICKED_PACKED, warehouse_id=warehouse.pk, warehouse_code="WH-SH",
            carrier="shunfeng", tracking_number="SF1", priority=stored.priority,
            order_type=stored.order_type, placed_at=stored.placed_at, paid_at=stored.paid_at,
            ship_by=None, shipped_at=None, delivered_at=None,
            status_changed_at=stored.status_changed_at,
        ),
        system=WMS, raw_status="PICKED", milestone=M.PICKED_PACKED, occurred_at=AT,
        received_at=row.received_at, outcome=FactOutcome.SKIPPED_AHEAD,
        status_before=M.PAID, status_after=M.PICKED_PACKED,
    )  # fmt: skip
    assert len(heard.transitions) == 1
    events = heard.transitions[0]
    assert [(e.before, e.after, e.source, e.fact_id) for e in events] == [
        (M.PAID, M.STOCK_LOCKED, WMS, row.pk),
        (M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, WMS, row.pk),
        (M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED, WMS, row.pk),
    ]
    # Each transition carries the order as it was right after it.
    assert [e.order.status for e in events] == [
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
    ]
    assert {e.order.warehouse_code for e in events} == {"WH-SH"}
    assert not any(isinstance(value, Order) for value in dataclasses.astuple(events[0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].order.status = M.DELIVERED  # type: ignore[misc]


@pytest.mark.django_db
def test_a_fact_already_stored_calls_no_hook(heard: Heard) -> None:
    order = OrderFactory.create()
    fact = StatusFactIn(WMS, "PAID", M.PAID, AT)
    status_fact_record(order_id=order.pk, fact=fact)
    heard.facts.clear()
    heard.transitions.clear()

    status_fact_record(order_id=order.pk, fact=fact)

    assert (heard.facts, heard.transitions) == ([], [])


@pytest.mark.django_db
def test_a_late_fact_is_a_fact_event_without_transitions(heard: Heard) -> None:
    order = OrderFactory.create()
    order_transition(order_id=order.pk, target=M.PAID)
    heard.transitions.clear()

    status_fact_record(order_id=order.pk, fact=StatusFactIn("shopify:s", "open", M.PLACED, AT))

    assert [
        [(f.outcome, f.order.status, f.order.warehouse_code) for f in call] for call in heard.facts
    ] == [[(FactOutcome.LATE, M.PAID, "")]]
    assert heard.transitions == []


@pytest.mark.django_db
def test_a_hook_that_raises_rolls_the_whole_change_back(monkeypatch: pytest.MonkeyPatch) -> None:
    order = OrderFactory.create()

    def refuse(events: Sequence[TransitionEvent]) -> None:
        raise RuntimeError("listener refused")

    monkeypatch.setitem(transition_hooks._entries, "tests.refuse", refuse)

    with pytest.raises(RuntimeError, match="listener refused"):
        status_fact_record(order_id=order.pk, fact=StatusFactIn(WMS, "PAID", M.PAID, AT))

    assert Order.objects.get(pk=order.pk).status == M.PLACED
    assert StatusFact.objects.count() == 0


@pytest.mark.django_db
def test_a_fact_applied_once_its_status_is_mapped_is_told_again_with_its_transition(
    heard: Heard,
) -> None:
    order = OrderFactory.create()
    row = status_fact_record(order_id=order.pk, fact=StatusFactIn(WMS, "ZAHLUNG", None, AT))
    assert [[f.outcome for f in call] for call in heard.facts] == [[FactOutcome.UNMAPPED]]
    assert heard.transitions == []
    heard.facts.clear()

    assert status_facts_reapply(system_prefix="wms:", raw_status="ZAHLUNG", milestone=M.PAID) == 1

    assert [[(f.fact_id, f.outcome, f.order.status) for f in call] for call in heard.facts] == [
        [(row.pk, FactOutcome.ADVANCED, M.PAID)]
    ]
    assert [[(t.before, t.after, t.fact_id) for t in call] for call in heard.transitions] == [
        [(M.PLACED, M.PAID, row.pk)]
    ]
