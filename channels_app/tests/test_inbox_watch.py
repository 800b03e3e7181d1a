"""The drain that watches the empty inbox: a delivery stored while it watches is processed
within a probe's time, not at beat's next tick; one drain watches at a time; without a watch
window a drain returns as soon as the inbox is empty."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from channels_app.models import ChannelAccount, InboundMessage, InboxStatus
from channels_app.services.processing import inbox_claimable, inbox_drain
from channels_app.tests.test_processing import created, store
from orderhub.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def _drain_in_thread(result: dict[str, Any], **options: float) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        try:
            result["handled"] = inbox_drain(limit=100, **options)
        finally:
            result["seconds"] = time.monotonic() - started
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_delivery_stored_while_the_drain_watches_is_processed_at_once(
    account: ChannelAccount,
) -> None:
    watcher: dict[str, Any] = {}
    thread = _drain_in_thread(watcher, budget_seconds=20, watch_seconds=2.0, handoff_seconds=0.5)
    time.sleep(0.5)  # the inbox is empty: the drain watches
    assert thread.is_alive()
    # A second drain finds the inbox empty and the watch taken: it returns at once.
    started = time.monotonic()
    assert inbox_drain(limit=100, budget_seconds=20, watch_seconds=2.0) == 0
    assert time.monotonic() - started < 0.3
    message_id = store(account, created("W1"))
    stored = time.monotonic()
    while InboundMessage.objects.get(pk=message_id).status != InboxStatus.PROCESSED:
        assert time.monotonic() - stored < 1.0, "the watching drain did not take the delivery"
        time.sleep(0.02)
    assert Order.objects.get(external_id="W1").status == "placed"
    thread.join(timeout=10)
    # Watched 2 s after its last message, then stopped; it handled exactly that one.
    assert watcher["handled"] == 1
    assert 2.4 <= watcher["seconds"] < 4.0
    assert not inbox_claimable()


def test_without_a_watch_window_the_drain_returns_when_the_inbox_is_empty(
    account: ChannelAccount,
) -> None:
    store(account, created("W2"))
    assert inbox_claimable()
    started = time.monotonic()
    assert inbox_drain(limit=100, budget_seconds=20) == 1
    assert time.monotonic() - started < 1.0
    assert not inbox_claimable()
    # Nothing stored later is processed: no drain is left behind watching.
    message_id = store(account, created("W3"))
    time.sleep(0.3)
    assert InboundMessage.objects.get(pk=message_id).status == InboxStatus.PENDING
    assert Order.objects.filter(external_id="W3").count() == 0


def test_the_watch_is_handed_over_before_the_watcher_stops(account: ChannelAccount) -> None:
    first: dict[str, Any] = {}
    thread = _drain_in_thread(first, budget_seconds=20, watch_seconds=1.5, handoff_seconds=1.0)
    time.sleep(0.8)  # within the last second of the first watch: the lock is free again
    second: dict[str, Any] = {}
    follower = _drain_in_thread(second, budget_seconds=20, watch_seconds=1.5, handoff_seconds=1.0)
    thread.join(timeout=10)
    assert follower.is_alive()  # it took the watch over: a delivery now is still seen
    message_id = store(account, created("W4"))
    follower.join(timeout=10)
    assert InboundMessage.objects.get(pk=message_id).status == InboxStatus.PROCESSED
    assert (first["handled"], second["handled"]) == (0, 1)
