"""Returns and complaints from the channels, end to end: each platform's after-sale messages
over real HTTP to ``/hooks/<code>/`` (signed as the platform signs), stored raw, processed by
the worker's service, into exactly one ``health.Feedback`` per platform id; Pinduoduo's
``after_sales_status`` polled from the sandbox API the same way its orders are."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from channels_app.adapters.common import CHINA_TZ
from channels_app.models import InboundMessage, InboxStatus, PollState
from channels_app.pull.services import account_poll
from channels_app.sandbox import encoders, engine
from channels_app.sandbox.accounts import sandbox_account, sandbox_accounts_setup
from channels_app.sandbox.feedback import STORIES, FeedbackMessage
from channels_app.sandbox.generator import SandboxOrder, generate_order
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import pinduoduo_account
from channels_app.services import inbox_process_pending
from health.models import Anomaly, Feedback
from orderhub.models import Order, StatusFact
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db(transaction=True)
PREFIX = "fb"


def _order(kind: str, number: int) -> SandboxOrder:
    """A paid and shipped order of ``kind``, placed three hours ago."""
    now = datetime.now(UTC)
    order = generate_order(kind, number, random.Random(number), now - timedelta(hours=3), run=9)
    steps = ("placed", "paid", "shipped")
    times = tuple(order.placed_at + timedelta(minutes=10 * n) for n in range(3))
    return dataclasses.replace(order, steps=steps, step_times=times)


def _deliver(url: str, kind: str, payload: encoders.Payload) -> None:
    account = sandbox_account(kind, prefix=PREFIX)
    status, _ms = engine.send(url, encoders.wrap(account, payload, sent_at=datetime.now(UTC)))
    assert status == 200
    while inbox_process_pending(limit=50):
        pass


def _rows(code: str) -> dict[tuple[str, str], str]:
    return {
        (row.kind, row.external_id): row.raw["status"]
        for row in Feedback.objects.filter(channel=code)
    }


def _ledger(action: str) -> int:
    return LedgerEvent.objects.filter(action=action).count()


# (kind, story pick, the rows the story leaves: (feedback kind, status) per platform id)
STORY_CASES = [
    ("douyin", 0, [("return", "12")]),
    ("douyin", 4, [("return", "12"), ("complaint", "3")]),
    ("youzan", 2, [("return", "RefundClosed")]),
    ("youzan", 3, [("return", "RefundSuccess"), ("complaint", "YouzanInterApplied")]),
    ("shopify", 0, [("return", "refunded")]),
    ("shopify", 1, [("complaint", None)]),  # won or lost, as the story drew
]


@pytest.mark.parametrize(("kind", "pick", "left"), STORY_CASES)
def test_after_sale_story_leaves_one_row_per_platform_id(
    live_server: Any, kind: str, pick: int, left: list[tuple[str, str | None]]
) -> None:
    sandbox_accounts_setup(kinds=(kind,), prefix=PREFIX)
    code = f"{PREFIX}-{kind}"
    order = _order(kind, 11 + pick)
    for step in range(len(order.steps)):
        _deliver(live_server.url, kind, encoders.PAYLOADS[kind](order, step))
    stored = Order.objects.get(channel=code, external_id=order.external_id)
    # The order's own messages report no feedback.
    assert Feedback.objects.count() == 0
    facts_before = StatusFact.objects.filter(order=stored).count()
    assert facts_before > 0

    start = datetime.now(UTC) - timedelta(hours=1)
    story: list[FeedbackMessage] = STORIES[kind](order, random.Random(3), start, pick)
    first_pk: dict[tuple[str, str], int] = {}
    for index, message in enumerate(story):
        _deliver(live_server.url, kind, message.payload)
        row = Feedback.objects.get(channel=code, kind=message.kind, external_id=message.external_id)
        assert row.raw["status"] == message.status
        assert first_pk.setdefault((message.kind, message.external_id), row.pk) == row.pk
        if index == 0:  # the same delivery again: nothing more
            received = _ledger("health.feedback_received")
            _deliver(live_server.url, kind, message.payload)
            assert _ledger("health.feedback_received") == received
            assert Feedback.objects.filter(channel=code).count() == 1

    expected = {(m.kind, m.external_id): m.status for m in story}  # the last status of each
    assert _rows(code) == expected
    want = sorted((feedback_kind, status or story[-1].status) for feedback_kind, status in left)
    assert sorted((feedback_kind, status) for (feedback_kind, _id), status in expected.items()) == (
        want
    )
    for row in Feedback.objects.filter(channel=code):
        assert (row.order_id, row.province) == (stored.pk, stored.province)
        assert row.province != ""
    # One received event per row, one updated event per status that moved a row on.
    last: dict[tuple[str, str], str] = {}
    moves = 0
    for message in story:
        key = (message.kind, message.external_id)
        moves += key in last and last[key] != message.status
        last[key] = message.status
    assert _ledger("health.feedback_received") == len(expected)
    assert _ledger("health.feedback_updated") == moves
    # After-sale messages write no status fact and open no unmapped_status anomaly.
    assert StatusFact.objects.filter(order=stored).count() == facts_before
    assert not Anomaly.objects.filter(order=stored, kind="unmapped_status").exists()
    messages = InboundMessage.objects.filter(account__code=code)
    assert set(messages.values_list("status", flat=True)) == {InboxStatus.PROCESSED}
    # Every message, the refunds and disputes too, is in the order's trace.
    assert [ids for ids in messages.values_list("order_ids", flat=True)] == [
        [stored.pk]
    ] * messages.count()


def test_a_late_earlier_status_does_not_move_the_return_back(live_server: Any) -> None:
    sandbox_accounts_setup(kinds=("douyin",), prefix=PREFIX)
    order = _order("douyin", 31)
    for step in range(len(order.steps)):
        _deliver(live_server.url, "douyin", encoders.PAYLOADS["douyin"](order, step))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    applied, agreed, refunded = STORIES["douyin"](order, random.Random(3), start, 0)
    _deliver(live_server.url, "douyin", refunded.payload)  # 206 first
    _deliver(live_server.url, "douyin", applied.payload)  # then the 200 it followed
    _deliver(live_server.url, "douyin", agreed.payload)
    [row] = Feedback.objects.filter(channel="fb-douyin")
    assert (row.kind, row.external_id, row.raw["status"]) == ("return", refunded.external_id, "12")
    assert row.occurred_at == start  # opened when applied for, learnt from the late 200
    assert _ledger("health.feedback_updated") == 0


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def test_pinduoduo_after_sales_status_polled_is_one_return_moving_on(api: SandboxAPI) -> None:
    now = datetime.now(CHINA_TZ)
    returned = api.pinduoduo.order_add(updated=now - timedelta(minutes=40), number=1)
    untouched = api.pinduoduo.order_add(updated=now - timedelta(minutes=35), number=2)
    api.pinduoduo.after_sale(returned, 3, at=now - timedelta(minutes=20))
    account = pinduoduo_account(api, lookback_hours="1")

    assert account_poll(account_id=account.pk, budget_seconds=60).outcome == "ok"
    while inbox_process_pending(limit=50):
        pass
    order = Order.objects.get(channel="pdd-shop", external_id=returned)
    [row] = Feedback.objects.all()
    assert (row.kind, row.external_id, row.raw["status"], row.order_id) == (
        "return", returned, "3", order.pk,
    )  # fmt: skip
    assert row.province == order.province == api.pinduoduo.orders[returned]["province"]
    assert row.occurred_at == now.replace(microsecond=0) - timedelta(minutes=20)
    assert not Feedback.objects.filter(order__external_id=untouched).exists()

    # The platform takes it in hand (a complaint), then the refund succeeds: the same return.
    api.pinduoduo.after_sale(returned, 8, at=now - timedelta(minutes=10))
    _poll_again(account.pk, since=now - timedelta(minutes=12))
    api.pinduoduo.after_sale(returned, 10, at=now - timedelta(minutes=5))
    _poll_again(account.pk, since=now - timedelta(minutes=6))
    assert {(r.kind, r.raw["status"]) for r in Feedback.objects.all()} == {
        ("return", "10"),
        ("complaint", "8"),
    }
    assert Feedback.objects.get(kind="return").pk == row.pk
    assert _ledger("health.feedback_updated") == 2
    assert _ledger("health.feedback_received") == 2


def _poll_again(account_id: int, *, since: datetime) -> None:
    """The next poll, its window reaching back to ``since`` (a real poll stays 3 minutes
    behind the platform's clock, so a change of the last minutes waits for a later one)."""
    PollState.objects.filter(account_id=account_id).update(
        cursor={"start_next": int(since.timestamp())}
    )
    assert account_poll(account_id=account_id, budget_seconds=60).outcome == "ok"
    while inbox_process_pending(limit=50):
        pass


@pytest.mark.slow
def test_sandbox_run_with_feedback_converges_on_its_ledger(live_server: Any) -> None:
    kinds = ("douyin", "youzan", "shopify")
    sandbox_accounts_setup(kinds=kinds, prefix=PREFIX)
    accounts = [sandbox_account(kind, prefix=PREFIX) for kind in kinds]
    # One thread: the after-sale messages that carry no time of their own (Shopify disputes,
    # Douyin arbitrations) are ordered by arrival, as on the platforms' side.
    config = engine.RunConfig(url=live_server.url, rate=0, count=0, orders=24, feedback=0.7,
                              duplicates=0.2, bad_signatures=0.02, hostile=0, seed=12, run=77,
                              threads=1)  # fmt: skip
    ledger = engine.run(accounts, config)
    while inbox_process_pending(limit=200):
        pass
    assert ledger.counts()["feedback"] >= 15
    actual = {
        (row.channel, row.kind, row.external_id): row.raw["status"]
        for row in Feedback.objects.all()
    }
    assert actual == ledger.feedback
    assert {kind for _code, kind, _id in actual} == {"return", "complaint"}
    assert not Feedback.objects.filter(order__isnull=True).exists()
    assert not Anomaly.objects.filter(kind="unmapped_status").exists()
