"""The order state machine: every allowed and every forbidden transition, on PostgreSQL."""

from __future__ import annotations

import pytest

from orderhub.choices import Milestone
from orderhub.exceptions import OrderTransitionError
from orderhub.models import Order
from orderhub.services import order_transition
from tests.factories import OrderFactory

M = Milestone
# Written out by hand from the design, not derived from the code under test.
ALLOWED: set[tuple[str, str]] = {
    (M.PLACED, M.PAID),
    (M.PAID, M.STOCK_LOCKED),
    (M.STOCK_LOCKED, M.AWAITING_CONFIRMATION),
    (M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED),
    (M.AWAITING_CONFIRMATION, M.WAREHOUSE_ACCEPTED),
    (M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED),
    (M.PICKED_PACKED, M.WAYBILL_ISSUED),
    (M.WAYBILL_ISSUED, M.HANDED_OVER),
    (M.HANDED_OVER, M.COLLECTED),
    (M.COLLECTED, M.DELIVERED),
    *(
        (source, M.CANCELLED)
        for source in (
            M.PLACED,
            M.PAID,
            M.STOCK_LOCKED,
            M.AWAITING_CONFIRMATION,
            M.WAREHOUSE_ACCEPTED,
            M.PICKED_PACKED,
            M.WAYBILL_ISSUED,
        )
    ),
    (M.HANDED_OVER, M.RETURNED),
    (M.COLLECTED, M.RETURNED),
    (M.DELIVERED, M.RETURNED),
}
# A path from `placed` to each status, through allowed edges only.
PATH_TO: dict[str, list[str]] = {
    M.PLACED: [],
    M.PAID: [M.PAID],
    M.STOCK_LOCKED: [M.PAID, M.STOCK_LOCKED],
    M.AWAITING_CONFIRMATION: [M.PAID, M.STOCK_LOCKED, M.AWAITING_CONFIRMATION],
    M.WAREHOUSE_ACCEPTED: [M.PAID, M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED],
    M.PICKED_PACKED: [M.PAID, M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED],
    M.WAYBILL_ISSUED: [
        M.PAID,
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
        M.WAYBILL_ISSUED,
    ],
    M.HANDED_OVER: [
        M.PAID,
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
        M.WAYBILL_ISSUED,
        M.HANDED_OVER,
    ],
    M.COLLECTED: [
        M.PAID,
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
        M.WAYBILL_ISSUED,
        M.HANDED_OVER,
        M.COLLECTED,
    ],
    M.DELIVERED: [
        M.PAID,
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
        M.WAYBILL_ISSUED,
        M.HANDED_OVER,
        M.COLLECTED,
        M.DELIVERED,
    ],
    M.CANCELLED: [M.CANCELLED],
    M.RETURNED: [
        M.PAID,
        M.STOCK_LOCKED,
        M.WAREHOUSE_ACCEPTED,
        M.PICKED_PACKED,
        M.WAYBILL_ISSUED,
        M.HANDED_OVER,
        M.RETURNED,
    ],
}
ALL = [choice.value for choice in Milestone]
MATRIX = [(source, target) for source in ALL for target in ALL if source != target]


def order_at(status: str) -> Order:
    order = OrderFactory.create()
    for target in PATH_TO[status]:
        order_transition(order_id=order.pk, target=target)
    return Order.objects.get(pk=order.pk)


def test_matrix_covers_every_pair() -> None:
    assert len(MATRIX) == 12 * 11
    assert len(ALLOWED) == 20


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), MATRIX)
def test_transition_matrix(source: str, target: str) -> None:
    order = order_at(source)
    assert order.status == source
    history_before = order.history.count()
    if (source, target) in ALLOWED:
        order_transition(order_id=order.pk, target=target, reason="matrix")
        assert Order.objects.get(pk=order.pk).status == target
        assert order.history.count() == history_before + 1
    else:
        with pytest.raises(OrderTransitionError) as excinfo:
            order_transition(order_id=order.pk, target=target)
        assert excinfo.value.current == source
        assert excinfo.value.target == target
        assert Order.objects.get(pk=order.pk).status == source
        assert order.history.count() == history_before


@pytest.mark.django_db
def test_transition_to_current_status_is_a_quiet_no_op() -> None:
    order = order_at(M.PAID)
    history_before = order.history.count()
    result = order_transition(order_id=order.pk, target=M.PAID)
    assert result.status == M.PAID
    assert order.history.count() == history_before


@pytest.mark.django_db
def test_status_cannot_be_assigned_directly() -> None:
    order = OrderFactory.create()
    with pytest.raises(AttributeError):
        order.status = M.DELIVERED


@pytest.mark.django_db
def test_reaching_milestones_stamps_times_once() -> None:
    order = order_at(M.DELIVERED)
    assert order.paid_at is not None
    assert order.shipped_at is not None
    assert order.delivered_at is not None
    assert order.paid_at <= order.shipped_at <= order.delivered_at
