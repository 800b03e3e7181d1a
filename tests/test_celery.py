"""A task travels through the real Redis broker to a real worker process and back."""

from __future__ import annotations

import pytest

from orderhub.choices import FactOutcome, Milestone
from orderhub.models import Order, StatusFact
from orderhub.tasks import status_fact_record_task
from tests.factories import OrderFactory


@pytest.mark.django_db(transaction=True)
def test_status_fact_task_round_trip_through_broker_and_worker(celery_worker_process) -> None:
    order = OrderFactory.create()
    kwargs = {
        "order_id": order.pk,
        "system": "wms:WH1",
        "raw_status": "PICKED",
        "milestone": Milestone.PAID,
        "occurred_at": "2026-11-20T10:00:00+08:00",
    }
    result = status_fact_record_task.apply_async(kwargs=kwargs)
    assert result.get(timeout=30) == {"outcome": FactOutcome.ADVANCED, "status_after": "paid"}
    assert Order.objects.get(pk=order.pk).status == Milestone.PAID

    # At-least-once delivery: the same message again changes nothing.
    again = status_fact_record_task.apply_async(kwargs=kwargs)
    assert again.get(timeout=30) == {"outcome": FactOutcome.ADVANCED, "status_after": "paid"}
    assert StatusFact.objects.filter(order=order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_task_for_a_deleted_order_returns_none(celery_worker_process) -> None:
    result = status_fact_record_task.apply_async(
        kwargs={
            "order_id": 987654321,
            "system": "wms:WH1",
            "raw_status": "PICKED",
            "milestone": Milestone.PAID,
            "occurred_at": "2026-11-20T10:00:00+08:00",
        }
    )
    assert result.get(timeout=30) is None
    assert StatusFact.objects.count() == 0
