"""Three workers processing small batches at once, about the same orders, in shuffled order and
with duplicates: every order ends exactly once, in its final status, with each fact once."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection

from channels_app.models import ChannelAccount, InboundMessage, InboxStatus
from channels_app.services import inbox_process_pending
from channels_app.tests.conftest import order_body
from channels_app.tests.test_processing import LINES, store
from orderhub.models import Order, StatusFact

ORDERS = 30
STEPS = [("CREATED", "10:00"), ("PAID", "10:05"), ("SHIPPED", "11:00")]


def _worker(deadline: float, errors: list[BaseException]) -> None:
    try:
        while time.monotonic() < deadline:
            open_count = InboundMessage.objects.exclude(
                status__in=[InboxStatus.PROCESSED, InboxStatus.FAILED_TERMINAL]
            ).count()
            if open_count == 0:
                return
            if not inbox_process_pending(limit=7):
                time.sleep(0.05)  # the rest is leased to others or waiting for its retry
    except BaseException as exc:  # reported to the test, not lost in the thread
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_about_the_same_orders_converge(account: ChannelAccount) -> None:
    bodies = []
    for n in range(ORDERS):
        for raw, at in STEPS:
            bodies.append(
                (
                    f"{n}-{raw}",
                    order_body(
                        {"id": f"K{n}", "status": raw, "at": f"2026-05-01T{at}:00+08:00"}
                        | ({"lines": LINES} if raw == "CREATED" else {})
                    ),
                )
            )
    rng = random.Random(7)
    rng.shuffle(bodies)
    # A third again as redeliveries with their own delivery ids (new messages, same content).
    for delivery, body in [*bodies, *[(f"{d}-again", b) for d, b in bodies[: len(bodies) // 3]]]:
        store(account, body, delivery=delivery)

    errors: list[BaseException] = []
    deadline = time.monotonic() + 90
    threads = [threading.Thread(target=_worker, args=(deadline, errors)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    left = list(InboundMessage.objects.exclude(status="processed").values_list("status", "reason"))
    assert left == []
    assert Order.objects.count() == ORDERS
    assert set(Order.objects.values_list("status", flat=True)) == {"handed_over"}
    assert StatusFact.objects.count() == ORDERS * len(STEPS)
    for order in Order.objects.all():
        assert order.lines.count() == 2
        history = list(order.history.order_by("history_id").values_list("status", flat=True))
        assert history[0] == "placed"
        assert history[-1] == "handed_over"
        # Forward only: the statuses never go back, whatever order the messages came in.
        ranks = ["placed", "paid", "stock_locked", "warehouse_accepted", "picked_packed",
                 "waybill_issued", "handed_over"]  # fmt: skip
        assert [ranks.index(status) for status in history] == sorted(
            ranks.index(status) for status in history
        )
