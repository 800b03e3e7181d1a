"""Effects leave after commit, through one helper, and a broker that is down never turns a
committed change into an error: the work waits in the database for the sweep."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu import pools

from channels_app.models import OutboxEntry, OutboxStatus
from channels_app.outbound.relay import outbox_relay_pending
from channels_app.outbound.tasks import outbox_relay_task
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import shop_account
from orderhub.celery import app
from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.effects import UNSENT_MESSAGE, EnqueueFailure, enqueue_failures, task_on_commit
from orderhub.models import Order
from orderhub.services import order_transition, order_upsert

M = Milestone


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pools_drop() -> None:
    """Forget the broker connections Celery keeps (its connection and producer pools, and
    kombu's registry of them, keyed by broker URL, which would hand a closed pool back once the
    URL is restored), so the next message connects to the broker configured now."""
    pool = getattr(app, "_pool", None)
    if pool is not None:
        pool.force_close_all()
    pools.reset()
    setattr(app, "_pool", None)  # noqa: B010 - Celery's private cache, no public reset
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010


@contextmanager
def _broker_unreachable() -> Iterator[str]:
    """The Celery app's broker points at a closed port on 127.0.0.1."""
    before = app.conf.broker_url
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    _pools_drop()
    app.conf.update(broker_url=url)
    try:
        yield url
    finally:
        _pools_drop()
        app.conf.update(broker_url=before)


@pytest.fixture
def broker_down() -> Iterator[str]:
    with _broker_unreachable() as url:
        yield url


class FakeTask:
    name = "tests.fake"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def apply_async(self, **options: Any) -> None:
        self.sent.append(options)


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_after_commit_and_never_after_a_rollback() -> None:
    task = FakeTask()
    with transaction.atomic():
        task_on_commit(task, expires=60, order_id=7)
        assert task.sent == []
    assert task.sent == [{"kwargs": {"order_id": 7}, "expires": 60}]

    @transaction.atomic
    def queue_then_fail() -> None:
        task_on_commit(task, order_id=8)
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        queue_then_fail()
    assert task.sent == [{"kwargs": {"order_id": 7}, "expires": 60}]

    task_on_commit(task, order_id=9)  # no transaction: at once
    assert task.sent[-1] == {"kwargs": {"order_id": 9}}


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_is_logged_and_collected_never_raised(
    broker_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orderhub.effects"), enqueue_failures() as failed:
        with transaction.atomic():
            task_on_commit(outbox_relay_task, entry_id=123)
        assert len(failed) == 1
    assert failed[0].task == "channels.outbox_relay"
    assert failed[0].kwargs == {"entry_id": 123}
    assert failed[0].error.startswith("OperationalError: ")
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["effects.enqueue_failed"]

    # Outside ``enqueue_failures()`` it is only logged.
    with transaction.atomic():
        task_on_commit(outbox_relay_task, entry_id=124)
    assert isinstance(failed[0], EnqueueFailure)
    assert len(failed) == 1


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


@pytest.mark.django_db(transaction=True)
def test_an_admin_transition_with_the_broker_down_commits_and_the_sweep_sends_it(
    api: SandboxAPI, admin_client: Client
) -> None:
    account = shop_account(api, kind="shopify", code="shopify-shop")
    api.shops.shopify_order_add("820982911946154508")
    system = f"shopify:{account.code}"
    order_upsert(
        normalized=NormalizedOrder(
            channel=account.code, external_id="820982911946154508", carrier="shunfeng",
            tracking_number="SF1234567890",
            facts=(StatusFactIn(system, "paid", "paid", timezone.now()),),
        ),
        user=None, source=system,
    )  # fmt: skip
    order = Order.objects.get(external_id="820982911946154508")
    for target in (M.STOCK_LOCKED, M.WAREHOUSE_ACCEPTED, M.PICKED_PACKED):
        order_transition(order_id=order.pk, target=target)

    url = reverse("admin:orderhub_order_transition", args=[order.pk, M.WAYBILL_ISSUED])
    with _broker_unreachable():
        response = admin_client.post(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == M.WAYBILL_ISSUED
    entry = OutboxEntry.objects.get(order=order)
    assert (entry.status, entry.attempts) == (OutboxStatus.PENDING, 0)
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts[-1] == str(UNSENT_MESSAGE)
    assert api.effective.get(("shopify", "820982911946154508"), 0) == 0

    # The beat sweep sends it later.
    assert outbox_relay_pending() == 1
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (OutboxStatus.ACKNOWLEDGED, 1)
    assert api.effective[("shopify", "820982911946154508")] == 1
