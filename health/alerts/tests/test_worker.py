"""The whole path with a real broker and a real worker process: the beat's evaluation queues
the delivery after commit, the worker sends it to the sandbox robot and records the answer."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from channels_app.sandbox_api.server import SandboxAPI
from health.alerts.models import AlertRule, Delivery
from health.alerts.services.incidents import alerts_evaluate
from health.alerts.services.rules import alert_rule_save
from health.alerts.tests.conftest import make_notifier
from orderhub.models import Order
from tests.factories import OrderFactory, WarehouseFactory


def _wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_an_incident_message_travels_through_broker_and_worker(
    sandbox: SandboxAPI, celery_worker_process: Any
) -> None:
    # transaction=True empties the tables (the default rules too): the rule is made here.
    rule = AlertRule(
        code="untracked", name="Untracked", metric="orders_without_tracking", comparator="gt",
        threshold=Decimal("0"), window_minutes=120,
    )  # fmt: skip
    alert_rule_save(rule=rule, notifiers=[make_notifier(sandbox, "wecom")], user=None)
    order = OrderFactory.create(warehouse=WarehouseFactory.create(code="WH-A"))
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(
        status="picked_packed", status_changed_at=now - timedelta(hours=3)
    )
    assert alerts_evaluate(now=now)["opened"] == 1
    assert _wait_for(lambda: Delivery.objects.filter(status="sent").exists())
    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.attempts, delivery.provider_result) == (
        "opened",
        1,
        "errcode=0 errmsg=ok",
    )
    assert len(sandbox.alerts.received["wecom"]) == 1
    # The next run finds nothing new to say.
    assert alerts_evaluate(now=now + timedelta(seconds=30))["opened"] == 0
    time.sleep(1)
    assert len(sandbox.alerts.received["wecom"]) == 1
