from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from channels_app.adapters.base import Verified
from channels_app.models import (
    ChannelAccount,
    CredibilityRule,
    InboundMessage,
    StatusMapping,
)
from channels_app.services import (
    inbound_message_store,
    inbox_claim,
    inbox_message_requeue,
    inbox_process_pending,
    status_mapping_save,
)
from channels_app.tests.conftest import order_body
from orderhub.models import Order, OrderLine, StatusFact
from traceability.models import LedgerEvent

LINES = [{"sku": "SKU-1", "qty": 2, "price": "19.90"}, {"sku": "SKU-2", "qty": 1, "price": "5"}]


def store(account: ChannelAccount, body: bytes, delivery: str = "") -> int:
    verified = Verified(delivery_id=delivery, event_type="order", payload=body, response=None)  # type: ignore[arg-type]
    message_id, _created = inbound_message_store(
        account=account, verified=verified, body=body, headers={}, received_at=timezone.now()
    )
    return message_id


def created(order_id: str = "A1", **extra: object) -> bytes:
    return order_body(
        {"id": order_id, "status": "CREATED", "at": "2026-05-01T10:00:00+08:00", "lines": LINES}
        | extra
    )


def paid(order_id: str = "A1") -> bytes:
    return order_body({"id": order_id, "status": "PAID", "at": "2026-05-01T10:05:00+08:00"})


@pytest.mark.django_db
def test_store_then_process_makes_one_order(account: ChannelAccount) -> None:
    message_id = store(account, created(total="39.80"))
    assert inbox_process_pending() == 1
    order = Order.objects.get()
    assert (order.channel, order.external_id, order.status) == ("test-shop", "A1", "placed")
    assert order.total_amount == Decimal("39.80")
    assert list(OrderLine.objects.values_list("sku", "quantity", "amount")) == [
        ("SKU-1", 2, Decimal("39.80")),
        ("SKU-2", 1, Decimal("5.00")),
    ]
    fact = StatusFact.objects.get()
    assert (fact.system, fact.raw_status, fact.milestone, fact.source_message_id) == (
        "test_hmac:test-shop",
        "CREATED",
        "placed",
        message_id,
    )
    message = InboundMessage.objects.get()
    assert (message.status, message.attempts, message.order_ids) == ("processed", 1, [order.pk])
    assert inbox_process_pending() == 0


@pytest.mark.django_db
def test_paid_before_create_and_replays_converge(account: ChannelAccount) -> None:
    store(account, paid(), delivery="2")
    store(account, created(), delivery="1")
    inbox_process_pending()
    # A replay with a new delivery id, processed again: nothing changes.
    store(account, paid(), delivery="2-replay")
    inbox_process_pending()
    order = Order.objects.get()
    assert order.status == "paid"
    assert order.lines.count() == 2
    assert sorted(StatusFact.objects.values_list("raw_status", "outcome")) == [
        ("CREATED", "late"),
        ("PAID", "advanced"),
    ]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "reason_start"),
    [
        (b'{"orders": [{"id": "A", "total": NaN}]}', "payload rejected: non-finite number NaN"),
        (b'{"orders": "x"}', "cannot normalize: NormalizeError: orders missing"),
        (b'{"orders": [{"id": "A", "status": "PAID"}]}', "cannot normalize: KeyError"),
        (b"[" * 100 + b"]" * 100, "payload rejected: nested deeper than 32"),
        (b'{"orders": [{"id": "\\u0000"}]}', "payload rejected: NUL character"),
        (b"\xff\xfe", "payload rejected: not UTF-8"),
    ],
)
def test_hostile_payloads_fail_terminal_with_reason(
    account: ChannelAccount, body: bytes, reason_start: str
) -> None:
    store(account, body)
    inbox_process_pending()
    message = InboundMessage.objects.get()
    assert message.status == "failed_terminal"
    assert message.attempts == 1
    assert message.reason.startswith(reason_start), message.reason
    assert Order.objects.count() == 0
    assert LedgerEvent.objects.filter(action="inbox.failed").count() == 1


@pytest.mark.django_db
def test_requeue_after_a_fix_converges(account: ChannelAccount) -> None:
    store(account, order_body({"id": "A1", "status": "WEIRD", "at": "2026-05-01T10:00:00+08:00"}))
    store(account, created())
    inbox_process_pending()
    first = InboundMessage.objects.order_by("id").first()
    assert first is not None
    inbox_message_requeue(message_id=first.pk)
    inbox_process_pending()
    first.refresh_from_db()
    assert first.status == "processed"
    assert StatusFact.objects.count() == 2


@pytest.mark.django_db
def test_lease_expiry_lets_another_worker_take_over(
    account: ChannelAccount, settings: object
) -> None:
    store(account, created())
    claimed = inbox_claim(limit=10)
    assert len(claimed) == 1
    assert inbox_claim(limit=10) == []  # leased: nobody else takes it
    InboundMessage.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert inbox_process_pending() == 1
    message = InboundMessage.objects.get()
    assert (message.status, message.attempts) == ("processed", 2)
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_unmapped_status_is_applied_once_mapped(account: ChannelAccount) -> None:
    store(account, created())
    store(account, order_body({"id": "A1", "status": "PACKED", "at": "2026-05-02T09:00:00+08:00"}))
    inbox_process_pending()
    fact = StatusFact.objects.get(raw_status="PACKED")
    assert (fact.milestone, fact.outcome) == ("", "unmapped")
    mapping, applied = status_mapping_save(
        kind="test_hmac", raw_status="PACKED", milestone="paid", note="seller's word for paid"
    )
    assert applied == 1
    fact.refresh_from_db()
    assert (fact.milestone, fact.outcome) == ("paid", "advanced")
    assert Order.objects.get().status == "paid"
    assert mapping.history.count() == 1
    # A later message with the same raw status now resolves through the mapping row.
    store(account, order_body({"id": "B1", "status": "PACKED", "at": "2026-05-02T09:00:00+08:00"}))
    inbox_process_pending()
    assert StatusFact.objects.get(order__external_id="B1").milestone == "paid"


@pytest.mark.django_db
def test_mapping_row_overrides_the_adapter_default(account: ChannelAccount) -> None:
    StatusMapping.objects.create(kind="test_hmac", raw_status="SHIPPED", milestone="")
    store(account, order_body({"id": "A1", "status": "SHIPPED", "at": "2026-05-02T09:00:00+08:00"}))
    inbox_process_pending()
    assert StatusFact.objects.get().outcome == "unmapped"


@pytest.mark.django_db
def test_test_orders_are_held_then_released_with_override(account: ChannelAccount) -> None:
    CredibilityRule.objects.create(name="platform test flag", kind="test_flag")
    message_id = store(account, created(test=True))
    inbox_process_pending()
    message = InboundMessage.objects.get()
    assert message.status == "held"
    assert message.reason == "A1: test order flagged by the platform (rule 'platform test flag')"
    assert Order.objects.count() == 0
    inbox_message_requeue(message_id=message_id, override_credibility=True)
    inbox_process_pending()
    assert InboundMessage.objects.get().status == "processed"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_fake_buyers_and_bursts_are_held(account: ChannelAccount) -> None:
    CredibilityRule.objects.create(
        name="blacklist", kind="fake_buyer", params={"phones": ["138-0000-0000"]}
    )
    CredibilityRule.objects.create(
        name="burst", kind="burst", params={"max_orders": 2, "window_seconds": 600}
    )
    store(account, created("F1", phone="13800000000"))
    for n in range(3):
        store(account, created(f"B{n}", phone="13999999999"))
    inbox_process_pending()
    rows = dict(InboundMessage.objects.values_list("status", "reason").order_by("id")[:1])
    assert rows == {"held": "F1: known fake buyer phone (rule 'blacklist')"}
    statuses = list(InboundMessage.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["held", "processed", "processed", "held"]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["B0", "B1"]
    # An update of a known order is never a burst.
    store(account, paid("B0"))
    inbox_process_pending()
    assert Order.objects.get(external_id="B0").status == "paid"
