"""Applying status facts: forward only, skip-ahead recorded, late facts kept, idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orderhub.choices import FactOutcome, Milestone
from orderhub.domain import StatusFactIn
from orderhub.models import Order, StatusFact
from orderhub.services import order_transition, status_fact_record, status_facts_reapply
from tests.factories import OrderFactory
from traceability.models import LedgerEvent

M = Milestone
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def fact(system: str, raw: str, milestone: str | None, minutes: int = 0) -> StatusFactIn:
    return StatusFactIn(
        system=system,
        raw_status=raw,
        milestone=milestone,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


@pytest.mark.django_db
def test_fact_advances_one_step() -> None:
    order = OrderFactory.create()
    row = status_fact_record(order_id=order.pk, fact=fact("shopify:main", "paid", M.PAID))
    assert (row.outcome, row.status_before, row.status_after, row.skipped) == (
        FactOutcome.ADVANCED, M.PLACED, M.PAID, [],
    )  # fmt: skip
    assert Order.objects.get(pk=order.pk).status == M.PAID


@pytest.mark.django_db
def test_collected_fact_on_paid_order_skips_ahead_and_records_the_skip() -> None:
    order = OrderFactory.create()
    order_transition(order_id=order.pk, target=M.PAID)
    row = status_fact_record(order_id=order.pk, fact=fact("courier:SF", "揽收", M.COLLECTED, 30))
    assert row.outcome == FactOutcome.SKIPPED_AHEAD
    # awaiting_confirmation is optional and not walked unless a fact asks for it.
    assert row.skipped == [
        M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED, M.WAYBILL_ISSUED, M.HANDED_OVER,
    ]  # fmt: skip
    order = Order.objects.get(pk=order.pk)
    assert order.status == M.COLLECTED
    reasons = list(
        order.history.order_by("history_id").values_list("status", "history_change_reason")
    )
    assert [status for status, _ in reasons] == [
        M.PLACED, M.PAID, M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED,
        M.WAYBILL_ISSUED, M.HANDED_OVER, M.COLLECTED,
    ]  # fmt: skip
    assert all("(skipped ahead)" in reason for _, reason in reasons[2:7])
    assert "(skipped ahead)" not in reasons[7][1]
    transitions = LedgerEvent.objects.filter(order_id=order.pk, action="order.transition")
    assert transitions.count() == 7
    # The first one is the manual payment, which no fact drove.
    assert [e.references.get("skipped") for e in transitions.order_by("id")] == [
        None, True, True, True, True, True, False,
    ]  # fmt: skip


@pytest.mark.django_db
def test_late_fact_is_stored_and_flagged_but_never_moves_the_order_back() -> None:
    order = OrderFactory.create()
    status_fact_record(order_id=order.pk, fact=fact("courier:SF", "派送中", M.COLLECTED, 60))
    history_before = Order.objects.get(pk=order.pk).history.count()
    row = status_fact_record(order_id=order.pk, fact=fact("erp:k3", "已审核", M.PAID, 5))
    assert (row.outcome, row.status_before, row.status_after) == (
        FactOutcome.LATE, M.COLLECTED, M.COLLECTED,
    )  # fmt: skip
    order = Order.objects.get(pk=order.pk)
    assert order.status == M.COLLECTED
    assert order.history.count() == history_before


@pytest.mark.django_db
def test_same_fact_twice_changes_nothing() -> None:
    order = OrderFactory.create()
    first = status_fact_record(order_id=order.pk, fact=fact("shopify:main", "paid", M.PAID))
    counts = (
        StatusFact.objects.count(),
        Order.objects.get(pk=order.pk).history.count(),
        LedgerEvent.objects.count(),
    )
    again = status_fact_record(order_id=order.pk, fact=fact("shopify:main", "paid", M.PAID))
    assert again.pk == first.pk
    assert again.outcome == FactOutcome.ADVANCED
    assert (
        StatusFact.objects.count(),
        Order.objects.get(pk=order.pk).history.count(),
        LedgerEvent.objects.count(),
    ) == counts


@pytest.mark.django_db
def test_same_milestone_from_another_system_confirms_without_moving() -> None:
    order = OrderFactory.create()
    status_fact_record(order_id=order.pk, fact=fact("shopify:main", "paid", M.PAID))
    row = status_fact_record(order_id=order.pk, fact=fact("erp:k3", "已付款", M.PAID, 1))
    assert row.outcome == FactOutcome.CONFIRMED
    assert StatusFact.objects.filter(order=order).count() == 2


@pytest.mark.django_db
def test_cancel_after_handover_is_a_conflict_and_status_stays() -> None:
    order = OrderFactory.create()
    status_fact_record(order_id=order.pk, fact=fact("wms:WH1", "出库", M.HANDED_OVER, 10))
    row = status_fact_record(
        order_id=order.pk, fact=fact("douyin:shop", "tag:106", M.CANCELLED, 11)
    )
    assert (row.outcome, row.status_after) == (FactOutcome.CONFLICT, M.HANDED_OVER)
    assert Order.objects.get(pk=order.pk).status == M.HANDED_OVER


@pytest.mark.django_db
def test_forward_fact_after_cancel_is_a_conflict() -> None:
    order = OrderFactory.create()
    status_fact_record(order_id=order.pk, fact=fact("shop:x", "cancelled", M.CANCELLED, 1))
    late_paid = status_fact_record(order_id=order.pk, fact=fact("shop:x", "paid", M.PAID, 0))
    picked = status_fact_record(order_id=order.pk, fact=fact("wms:WH1", "拣货", M.PICKED_PACKED, 2))
    assert late_paid.outcome == FactOutcome.LATE
    assert picked.outcome == FactOutcome.CONFLICT
    assert Order.objects.get(pk=order.pk).status == M.CANCELLED


@pytest.mark.django_db
def test_unmapped_fact_is_kept_then_applied_once_mapped() -> None:
    order = OrderFactory.create()
    other = OrderFactory.create()
    row = status_fact_record(order_id=order.pk, fact=fact("youzan:shop", "TRADE_PAID", None))
    status_fact_record(order_id=other.pk, fact=fact("shopify:main", "TRADE_PAID", None))
    assert (row.outcome, row.milestone) == (FactOutcome.UNMAPPED, "")
    assert Order.objects.get(pk=order.pk).status == M.PLACED

    applied = status_facts_reapply(
        system_prefix="youzan:", raw_status="TRADE_PAID", milestone=M.PAID
    )

    assert applied == 1
    row.refresh_from_db()
    assert (row.outcome, row.milestone, row.status_after) == (FactOutcome.ADVANCED, M.PAID, M.PAID)
    assert Order.objects.get(pk=order.pk).status == M.PAID
    # The other system's fact is not touched by a youzan mapping.
    assert Order.objects.get(pk=other.pk).status == M.PLACED
    assert (
        status_facts_reapply(system_prefix="youzan:", raw_status="TRADE_PAID", milestone=M.PAID)
        == 0
    )
