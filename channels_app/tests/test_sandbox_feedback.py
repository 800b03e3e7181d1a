"""The sandbox's after-sale traffic speaks each platform's format: every message verifies,
normalizes without a status fact and reads back as the report the sandbox planned."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from channels_app.adapters.base import adapters
from channels_app.parsing import payload_parse
from channels_app.sandbox import encoders, engine
from channels_app.sandbox.feedback import FEEDBACK_KINDS, feedback_story
from channels_app.sandbox.generator import generate_order
from channels_app.tests.test_sandbox import ACCOUNTS, inbound
from orderhub.domain import NormalizedOrder

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", FEEDBACK_KINDS)
def test_every_after_sale_message_verifies_and_reads_back_as_planned(kind: str) -> None:
    account = ACCOUNTS[kind]
    adapter = adapters.get(kind)()
    rng = random.Random(5)
    told = 0
    for number in range(40):
        order = generate_order(kind, number, rng, NOW)
        story = feedback_story(order, rng, NOW)
        if "paid" not in order.steps or "cancelled" in order.steps:
            assert story == []
            continue
        for message in story:
            request = encoders.wrap(account, message.payload, sent_at=NOW)
            verified = adapter.verify(account, inbound(request))
            payload = payload_parse(verified.payload, max_bytes=10**6)
            assert adapter.feedback_expected(verified.event_type)
            for normalized in adapter.normalize(account, payload):
                assert isinstance(normalized, NormalizedOrder)
                assert (normalized.external_id, normalized.facts) == (order.external_id, ())
            reports = adapter.feedback(account, payload, event_type=verified.event_type)
            key = (message.kind, message.external_id)
            planned = [r for r in reports if (r.kind, r.external_id) == key]
            assert [(r.status, r.external_order_id) for r in planned] == [
                (message.status, str(order.external_id))
            ]
            # Nothing in a story happens after the moment it was generated for.
            assert all(r.status_at is None or r.status_at <= NOW for r in reports)
            told += 1
    assert told >= 20


def test_feedback_share_adds_after_sale_jobs_and_leaves_the_rest_unchanged() -> None:
    accounts = [ACCOUNTS[kind] for kind in ("douyin", "youzan", "shopify", "woocommerce")]

    def jobs(share: float) -> tuple[list[tuple[str, str, str]], engine.Ledger]:
        ledger = engine.Ledger()
        config = engine.RunConfig(count=0, orders=60, seed=9, run=3, feedback=share,
                                  duplicates=0, bad_signatures=0, hostile=0)  # fmt: skip
        planned = engine.plan_jobs(accounts, config, ledger)
        # (category, delivery's order, body); the bodies carry the clock's times.
        sent = [(item[3], item[2], item[4].body.decode()) for job in planned for item in job]
        return sent, ledger

    quiet, quiet_ledger = jobs(0.0)
    busy, busy_ledger = jobs(1.0)
    assert quiet_ledger.feedback == {}
    assert {category for category, _order, _body in quiet} == {"normal"}
    after_sale = [body for category, _order, body in busy if category == "feedback"]
    assert len(after_sale) >= 30
    assert {code for code, _kind, _id in busy_ledger.feedback} == {"s-dy", "s-yz", "s-shop"}
    # The orders and their own messages are the same with or without the after-sales.
    assert busy_ledger.expected == quiet_ledger.expected
    normal = sorted(order for category, order, _body in busy if category == "normal")
    assert normal == sorted(order for _category, order, _body in quiet)
    assert all(json.loads(body) for body in after_sale)
