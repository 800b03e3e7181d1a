"""A claimed batch is processed in one transaction with a fixed number of statements; one bad
message in it costs only itself; several messages about one order converge as if processed one
after the other."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import ChannelAccount, InboundMessage, OutboxEntry
from channels_app.services import inbox_process_pending, processing
from channels_app.tests.conftest import order_body
from channels_app.tests.test_processing import LINES, created, paid, store
from orderhub.models import Order, OrderLine, StatusFact
from traceability.models import LedgerEvent


def paid_with_lines(order_id: str) -> bytes:
    return order_body(
        {"id": order_id, "status": "PAID", "at": "2026-05-01T10:05:00+08:00", "lines": LINES}
    )


def statements_to_process(account: ChannelAccount, orders: int, prefix: str) -> int:
    for n in range(orders):
        store(account, paid_with_lines(f"{prefix}{n}"), delivery=f"{prefix}{n}")
    with CaptureQueriesContext(connection) as queries:
        assert inbox_process_pending(limit=100) == orders
    return len(queries)


@pytest.mark.django_db
def test_a_batch_of_forty_new_orders_costs_the_statements_of_one(
    account: ChannelAccount,
) -> None:
    one = statements_to_process(account, 1, "single-")
    forty = statements_to_process(account, 40, "batch-")
    assert forty == one
    assert Order.objects.filter(status="paid").count() == 41
    assert OrderLine.objects.count() == 82
    assert StatusFact.objects.filter(outcome="advanced").count() == 41
    # Per order: the created snapshot and the paid one, as a save-by-save run writes them.
    history = Order.history.filter(external_id="batch-7").order_by("history_id")
    assert [(row.history_type, row.status) for row in history] == [("+", "placed"), ("~", "paid")]
    assert [row.history_change_reason for row in history] == [
        "created from test_hmac:test-shop",
        f"fact {StatusFact.objects.get(order__external_id='batch-7').pk} "
        "from test_hmac:test-shop: 'PAID'",
    ]
    order_id = Order.objects.get(external_id="batch-7").pk
    actions = LedgerEvent.objects.filter(order_id=order_id).order_by("id")
    assert list(actions.values_list("action", flat=True)) == [
        "order.created",
        "order.transition",
        "fact.recorded",
    ]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_a_message_with_a_refused_value_costs_only_itself(account: ChannelAccount) -> None:
    store(account, created("G1"), delivery="1")
    store(account, created("X" * 200), delivery="2")  # longer than an order id may be
    store(account, created("G2"), delivery="3")
    assert inbox_process_pending() == 3
    rows = list(InboundMessage.objects.order_by("id").values_list("status", "reason"))
    assert rows == [
        ("processed", ""),
        ("failed_terminal", "external_id is 200 characters, at most 128"),
        ("processed", ""),
    ]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["G1", "G2"]
    assert LedgerEvent.objects.filter(action="inbox.failed").count() == 1
    assert LedgerEvent.objects.filter(action="order.created").count() == 2


@pytest.mark.django_db
def test_a_message_the_database_refuses_costs_only_itself(
    account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the checks before the upsert do not know about, the database refuses: the batch
    # is split and the message fails alone.
    monkeypatch.setattr(processing, "normalized_order_check", lambda normalized: None)
    store(account, created("G1"), delivery="1")
    store(account, created("X" * 200), delivery="2")
    store(account, created("G2"), delivery="3")
    assert inbox_process_pending() == 3
    rows = list(InboundMessage.objects.order_by("id").values_list("status", "reason"))
    assert [status for status, _ in rows] == ["processed", "failed_terminal", "processed"]
    assert rows[1][1] == "DataError: value too long for type character varying(128)"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["G1", "G2"]
    assert LedgerEvent.objects.filter(action="inbox.failed").count() == 1
    assert LedgerEvent.objects.filter(action="order.created").count() == 2


@pytest.mark.django_db
def test_several_messages_about_one_order_in_one_batch_converge(
    account: ChannelAccount,
) -> None:
    store(account, paid("A1"), delivery="2")
    store(account, created("A1"), delivery="1")
    store(account, created("A1"), delivery="1-replay")
    store(account, paid_with_lines("A1"), delivery="2-with-lines")
    assert inbox_process_pending() == 4
    order = Order.objects.get()
    assert order.status == "paid"
    assert list(order.lines.values_list("sku", "quantity")) == [("SKU-1", 2), ("SKU-2", 1)]
    assert sorted(StatusFact.objects.values_list("raw_status", "outcome")) == [
        ("CREATED", "late"),
        ("PAID", "advanced"),
    ]
    statuses = list(order.history.order_by("history_id").values_list("history_type", "status"))
    assert statuses == [("+", "placed"), ("~", "paid")]
    actions = list(LedgerEvent.objects.filter(order_id=order.pk).values_list("action", flat=True))
    assert sorted(actions) == [
        "fact.recorded",
        "fact.recorded",
        "order.created",
        "order.transition",
        "order.updated",  # the lines came with the second message
    ]
    assert list(InboundMessage.objects.values_list("order_ids", flat=True)) == [[order.pk]] * 4


@pytest.mark.django_db
def test_write_back_rows_for_a_batch_cost_the_statements_of_one(
    account: ChannelAccount,
) -> None:
    """With an ERP account, every paid order gets an outbox row: still a fixed statement count."""
    ChannelAccount.objects.create(kind="kingdee_k3", code="erp-main", name="ERP")
    one = statements_to_process(account, 1, "single-")
    thirty = statements_to_process(account, 30, "batch-")
    assert thirty == one
    entries = OutboxEntry.objects.order_by("id")
    assert entries.count() == 31
    assert set(entries.values_list("action", "milestone", "account__code")) == {
        ("order_paid", "paid", "erp-main")
    }
    order = Order.objects.get(external_id="batch-3")
    assert entries.get(order=order).idempotency_key == f"erp-main:{order.pk}:order_paid:paid"
    assert LedgerEvent.objects.filter(action="outbox.written").count() == 31
