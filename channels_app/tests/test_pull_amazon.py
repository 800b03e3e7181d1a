"""Amazon SP-API polling against the sandbox on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from channels_app.models import ChannelAccount, InboundMessage, PollState
from channels_app.pull.services import account_poll
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import amazon_account
from channels_app.services import inbox_process_pending
from channels_app.tests.pull_crash import poll_killed_while_held
from orderhub.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    sandbox.amazon.rate_limit_header = "1000.0"
    yield sandbox
    sandbox.stop()


def _seed(api: SandboxAPI, count: int, *, status: str = "Unshipped") -> list[str]:
    base = datetime.now(UTC) - timedelta(hours=3)
    return [
        api.amazon.order_add(status=status, updated=base + timedelta(seconds=17 * n), number=n)
        for n in range(count)
    ]


def _drain() -> None:
    while inbox_process_pending(limit=100):
        pass


def test_poll_pages_through_every_order_once(api: SandboxAPI) -> None:
    ids = _seed(api, 35)
    account = amazon_account(api, page_size="10")

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.pages, result.messages) == ("ok", 4, 35)
    assert api.calls["getOrders"] == 4
    assert api.calls["getOrderItems"] == 35
    assert api.calls["getOrderAddress"] == 35  # Unshipped orders have an address
    assert api.calls["lwa.token"] == 1
    keys = set(InboundMessage.objects.filter(account=account).values_list("dedupe_key", flat=True))
    assert {k.split("@")[0] for k in keys} == set(ids)
    state = PollState.objects.get(account=account)
    assert state.pages_total == 4
    assert state.cursor["next_token"] == ""
    assert state.lease_until is None
    _drain()
    assert Order.objects.filter(channel="amazon-us").count() == 35
    order = Order.objects.get(external_id=ids[0])
    assert order.status == "paid"
    assert order.country in {"US", "DE", "JP", "GB", "SG"}
    assert order.lines.count() >= 1

    # Nothing new at the channel: the next poll stores nothing and reuses the cached token.
    again = account_poll(account_id=account.pk)
    assert (again.outcome, again.messages) == ("ok", 0)
    assert api.calls["lwa.token"] == 1
    assert InboundMessage.objects.filter(account=account).count() == 35


def test_updated_order_is_stored_as_a_new_version(api: SandboxAPI) -> None:
    (order_id,) = _seed(api, 1)
    account = amazon_account(api)
    account_poll(account_id=account.pk)
    _drain()
    # As if that poll ran ten minutes ago (windows end two minutes before now).
    ten_minutes_ago = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    PollState.objects.filter(account=account).update(
        cursor={"after": ten_minutes_ago, "next_token": ""}
    )
    updated = datetime.now(UTC) - timedelta(minutes=5)
    api.amazon.order_update(order_id, status="Shipped", updated=updated)

    result = account_poll(account_id=account.pk)

    assert (result.messages, api.calls["getOrders"]) == (1, 2)
    assert InboundMessage.objects.filter(account=account).count() == 2
    _drain()
    assert Order.objects.get(external_id=order_id).status == "handed_over"


def test_rate_limit_answers_slow_the_poller_down_instead_of_failing_it(api: SandboxAPI) -> None:
    _seed(api, 25)
    account = amazon_account(api, page_size="10")
    api.faults.rate_limit["getOrders"] = 2
    api.faults.rate_limit["getOrderItems"] = 1

    started = time.monotonic()
    result = account_poll(account_id=account.pk)
    elapsed = time.monotonic() - started

    assert (result.outcome, result.messages, result.rate_limited) == ("ok", 25, 3)
    assert api.calls["getOrders"] == 3 + 2  # three pages, two answered 429 and asked again
    assert elapsed >= 0.3  # each 429 asked for 0.2 s (Retry-After); waited, not failed
    state = PollState.objects.get(account=account)
    assert (state.rate_limited_total, state.last_outcome) == (3, "ok")


def test_persistent_rate_limit_ends_the_run_with_a_backoff_not_an_error(api: SandboxAPI) -> None:
    _seed(api, 25)
    account = amazon_account(api, page_size="10")
    api.faults.rate_limit["getOrders"] = 100
    api.faults.rate_limit["getOrders"] = 100
    first = account_poll(account_id=account.pk)
    api.faults.clear()
    assert first.outcome == "rate_limited"
    assert first.messages == 0
    state = PollState.objects.get(account=account)
    assert state.next_poll_at is not None
    assert state.next_poll_at > timezone.now()
    account.refresh_from_db()
    assert account.needs_attention is False

    # The scheduled poll respects the backoff; nothing is fetched until it passes.
    calls = api.calls["getOrders"]
    assert account_poll(account_id=account.pk).outcome == "skipped_locked"
    assert api.calls["getOrders"] == calls


def test_expired_access_token_is_refreshed_once(api: SandboxAPI) -> None:
    _seed(api, 3)
    account = amazon_account(api)
    account_poll(account_id=account.pk)
    api.amazon.expire_tokens()
    api.amazon.order_add(
        status="Pending", updated=datetime.now(UTC) - timedelta(minutes=4), number=99
    )
    PollState.objects.filter(account=account).update(cursor={})  # read the whole lookback again

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.messages) == ("ok", 1)  # the 3 known versions are skipped
    assert api.calls["lwa.token"] == 2


def test_a_revoked_cached_access_token_is_replaced_once(api: SandboxAPI) -> None:
    _seed(api, 2)
    account = amazon_account(api)
    account_poll(account_id=account.pk)
    with api.lock:
        api.amazon.tokens.clear()  # the platform no longer knows the cached token
    api.amazon.order_add(
        status="Pending", updated=datetime.now(UTC) - timedelta(minutes=4), number=98
    )
    PollState.objects.filter(account=account).update(cursor={})

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.messages) == ("ok", 1)
    assert api.calls["lwa.token"] == 2
    account.refresh_from_db()
    assert account.needs_attention is False


def test_revoked_grant_flags_the_account_and_stops_calling(api: SandboxAPI) -> None:
    _seed(api, 3)
    account = amazon_account(api)
    api.amazon.revoked.add(account.options["client_id"])

    result = account_poll(account_id=account.pk)

    assert result.outcome == "terminal_error"
    account.refresh_from_db()
    assert account.needs_attention is True
    assert "invalid_grant" in account.attention_reason
    assert api.calls["getOrders"] == 0
    token_calls = api.calls["lwa.token"]
    assert account_poll(account_id=account.pk).outcome == "skipped_inactive"
    assert api.calls["lwa.token"] == token_calls
    assert InboundMessage.objects.count() == 0


def test_the_lease_stops_a_second_concurrent_poll(api: SandboxAPI) -> None:
    _seed(api, 25)
    account = amazon_account(api, page_size="10")
    api.faults.pause_after["getOrders"] = 1  # the first poll stops inside its second page
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(account_poll(account_id=account.pk)))
    first.start()
    deadline = time.monotonic() + 20
    while api.faults.paused["getOrders"] == 0:
        assert time.monotonic() < deadline, "first poll never reached its second page"
        time.sleep(0.05)

    second = account_poll(account_id=account.pk, force=True)

    assert second.outcome == "skipped_locked"
    assert api.calls["getOrders"] == 2  # the second poll fetched nothing
    api.faults.release()
    first.join(timeout=30)
    assert results[0].outcome == "ok"
    assert InboundMessage.objects.filter(account=account).count() == 25


def test_crash_between_two_pages_resumes_without_loss_or_duplicate(
    api: SandboxAPI, tmp_path: Path
) -> None:
    ids = _seed(api, 35)
    account = amazon_account(api, page_size="10")
    # Pages 1 and 2 are stored, the call for page 3 hangs until the process is killed.
    poll_killed_while_held(
        api, account_id=account.pk, operation="getOrders", calls=2, log=tmp_path / "poll.log"
    )
    assert InboundMessage.objects.filter(account=account).count() == 20
    state = PollState.objects.get(account=account)
    assert state.pages_total == 2
    assert state.cursor["next_token"]  # the token of page 3, stored with page 2
    assert state.lease_owner  # the dead poll's lease is still there...
    assert account_poll(account_id=account.pk).outcome == "skipped_locked"  # ...and held

    time.sleep(2.2)  # ...until it expires
    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.pages, result.messages) == ("ok", 2, 15)
    keys = list(InboundMessage.objects.filter(account=account).values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == 35
    assert {k.split("@")[0] for k in keys} == set(ids)
    assert InboundMessage.objects.filter(account=account, duplicate_count__gt=0).count() == 0


def test_disabled_account_is_not_polled(api: SandboxAPI) -> None:
    account = amazon_account(api)
    ChannelAccount.objects.filter(pk=account.pk).update(enabled=False)
    assert account_poll(account_id=account.pk).outcome == "skipped_inactive"
    assert dict(api.calls) == {}
