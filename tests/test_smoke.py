import pytest

from orderhub.choices import Milestone
from orderhub.services import order_transition
from tests.factories import OrderFactory


@pytest.mark.django_db
def test_order_can_be_paid() -> None:
    order = OrderFactory()
    order_transition(order_id=order.pk, target=Milestone.PAID)
    order.refresh_from_db()
    assert order.status == Milestone.PAID
