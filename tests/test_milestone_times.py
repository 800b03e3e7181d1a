"""Milestone times: the source's clock of the fact that first reached them, ours beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from orderhub.choices import Milestone as M
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.exceptions import OrderDataError
from orderhub.models import Order, StatusFact
from orderhub.services import order_transition, order_upsert, status_fact_record
from orderhub.validation import normalized_order_check, time_check
from tests.factories import OrderFactory
from traceability.models import LedgerEvent

T1 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
T2 = datetime(2026, 5, 3, 9, 30, tzinfo=UTC)


def fact(raw: str, milestone: str, at: datetime) -> StatusFactIn:
    return StatusFactIn("courier:SF", raw, milestone, at)


@pytest.mark.django_db
def test_manual_transition_stamps_now_for_both() -> None:
    order = OrderFactory.create()
    before = timezone.now()
    order_transition(order_id=order.pk, target=M.PAID)
    order.refresh_from_db()
    assert order.paid_at is not None
    assert before <= order.paid_at <= timezone.now()
    assert order.paid_received_at == order.paid_at == order.status_changed_at


@pytest.mark.django_db
def test_a_fact_skipping_ahead_stamps_the_skipped_milestones_with_its_times() -> None:
    order = OrderFactory.create()
    row = status_fact_record(order_id=order.pk, fact=fact("IN_TRANSIT", M.HANDED_OVER, T1))
    order.refresh_from_db()
    assert order.status == M.HANDED_OVER
    assert (order.paid_at, order.shipped_at, order.delivered_at) == (T1, T1, None)
    assert order.paid_received_at == order.shipped_received_at == row.received_at
    assert order.delivered_received_at is None


@pytest.mark.django_db
def test_milestone_times_are_first_reached_and_never_overwritten() -> None:
    order = OrderFactory.create()
    first = status_fact_record(order_id=order.pk, fact=fact("PAID", M.PAID, T1))
    status_fact_record(order_id=order.pk, fact=fact("PAID_AGAIN", M.PAID, T2))  # confirmed
    delivered = status_fact_record(order_id=order.pk, fact=fact("SIGNED", M.DELIVERED, T2))
    order.refresh_from_db()
    assert (order.paid_at, order.paid_received_at) == (T1, first.received_at)
    assert (order.shipped_at, order.delivered_at) == (T2, T2)
    assert order.delivered_received_at == delivered.received_at


@pytest.mark.django_db
def test_channel_times_are_kept_with_when_orderhub_learned_them() -> None:
    before = timezone.now()
    order = order_upsert(
        normalized=NormalizedOrder(channel="shop", external_id="A1", placed_at=T1),
        source="test",
    )
    assert (order.placed_at, order.paid_at, order.paid_received_at) == (T1, None, None)
    assert order.placed_received_at is not None
    assert before <= order.placed_received_at <= timezone.now()
    learned = timezone.now()
    order = order_upsert(
        normalized=NormalizedOrder(channel="shop", external_id="A1", paid_at=T2), source="test"
    )
    stored = Order.objects.get(pk=order.pk)
    assert stored.paid_at == T2
    assert learned <= stored.paid_received_at <= timezone.now()
    assert stored.placed_received_at == order.placed_received_at


@pytest.mark.django_db
def test_status_fact_record_refuses_a_year_9999_time_and_stores_nothing() -> None:
    order = OrderFactory.create()
    events = LedgerEvent.objects.count()
    when = datetime.fromisoformat("9999-12-31T23:59:59-14:00")
    with pytest.raises(OrderDataError) as excinfo:
        status_fact_record(order_id=order.pk, fact=fact("SIGNED", M.DELIVERED, when))
    assert excinfo.value.field == "occurred_at"
    assert str(excinfo.value) == (
        "occurred_at 9999-12-31T23:59:59-14:00 is more than 86400 seconds ahead of now"
        " (fact 'SIGNED')"
    )
    assert StatusFact.objects.count() == 0
    assert LedgerEvent.objects.count() == events
    assert Order.objects.get(pk=order.pk).status == M.PLACED


def test_time_check_window_bounds() -> None:
    now = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    time_check(field="placed_at", value=datetime(2000, 1, 1, tzinfo=UTC), now=now)
    time_check(field="placed_at", value=now + timedelta(seconds=86400), now=now)
    with pytest.raises(OrderDataError) as early:
        time_check(field="placed_at", value=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), now=now)
    assert str(early.value) == "placed_at 1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z"
    with pytest.raises(OrderDataError) as late:
        time_check(field="paid_at", value=now + timedelta(seconds=86401), now=now)
    assert str(late.value) == (
        "paid_at 2026-12-03T00:00:01Z is more than 86400 seconds ahead of now"
    )
    with pytest.raises(OrderDataError) as naive:
        time_check(field="ship_by", value=datetime(2026, 5, 1), now=now)
    assert (naive.value.field, str(naive.value)) == (
        "ship_by",
        "ship_by 2026-05-01T00:00:00 has no time zone",
    )


def test_ship_by_is_a_deadline_and_may_lie_ahead() -> None:
    now = timezone.now()
    week = NormalizedOrder(channel="shop", external_id="A1", ship_by=now + timedelta(days=7))
    normalized_order_check(week)  # accepted: no error
    far = now + timedelta(days=400)
    with pytest.raises(OrderDataError) as excinfo:
        normalized_order_check(NormalizedOrder(channel="shop", external_id="A1", ship_by=far))
    assert excinfo.value.field == "ship_by"
    assert str(excinfo.value).endswith("is more than 366 days ahead of now")


def test_time_window_is_configurable() -> None:
    now = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    with override_settings(
        ORDERHUB_TIME_MIN=datetime(2020, 1, 1, tzinfo=UTC), ORDERHUB_TIME_MAX_AHEAD_SECONDS=60
    ):
        with pytest.raises(OrderDataError):
            time_check(field="placed_at", value=datetime(2019, 6, 1, tzinfo=UTC), now=now)
        with pytest.raises(OrderDataError):
            time_check(field="placed_at", value=now + timedelta(seconds=61), now=now)
        time_check(field="placed_at", value=now + timedelta(seconds=60), now=now)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"city": "C" * 80}, "city", "city is 80 characters, at most 64"),
        ({"external_id": "X" * 129}, "external_id", "external_id is 129 characters, at most 128"),
        (
            {"total_amount": Decimal("1000000000000.00")},
            "total_amount",
            "total_amount 1000000000000.00 is too large, it must be below 1000000000000",
        ),
        (
            {
                "lines": (
                    NormalizedLine(line_no=1, sku="S" * 65, quantity=1, unit_price=Decimal(1)),
                )
            },
            "lines[0].sku",
            "lines[0].sku is 65 characters, at most 64",
        ),
        (
            {"facts": (StatusFactIn("shop", "R" * 129, None, T1),)},
            "facts[0].raw_status",
            "facts[0].raw_status is 129 characters, at most 128",
        ),
        (
            {"facts": (StatusFactIn("shop", "PAID", None, datetime(1970, 1, 1, tzinfo=UTC)),)},
            "facts[0].occurred_at",
            "facts[0].occurred_at 1970-01-01T00:00:00Z is before 2000-01-01T00:00:00Z"
            " (fact 'PAID')",
        ),
    ],
)
def test_normalized_order_check_names_the_field(
    changes: dict[str, object], field: str, message: str
) -> None:
    normalized = NormalizedOrder(**{"channel": "shop", "external_id": "A1", **changes})  # type: ignore[arg-type]
    with pytest.raises(OrderDataError) as excinfo:
        normalized_order_check(normalized)
    assert (excinfo.value.field, str(excinfo.value)) == (field, message)


def test_normalized_order_check_accepts_a_sane_order() -> None:
    normalized = NormalizedOrder(
        channel="shop", external_id="A1", city="C" * 64, placed_at=T1,
        total_amount=Decimal("999999999999.99"), facts=(StatusFactIn("shop", "PAID", None, T1),),
    )  # fmt: skip
    normalized_order_check(normalized)  # accepted: no error
