"""Douyin: pushes carry ids, the poller fetches the detail; a search catches lost pushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels_app.adapters.douyin.client import sign
from channels_app.models import InboundMessage
from channels_app.pull.services import account_poll
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import deliver_in_process, douyin_account
from channels_app.selectors import account_config
from channels_app.services import inbox_process_pending
from channels_app.tests.pull_crash import poll_killed_while_held
from orderhub.models import Order, StatusFact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def _drain() -> None:
    while inbox_process_pending(limit=200):
        pass


def test_request_signature_is_hmac_sha256_over_the_documented_string() -> None:
    # hex(hmac_sha256("sec", 'secapp_key123methodorder.orderDetailparam_json{"shop_order_id":"1"}'
    #     'timestamp1700000000v2sec')), computed once and fixed here.
    value = sign(app_key="123", app_secret="sec", method="order.orderDetail",
                 params_text='{"shop_order_id":"1"}', timestamp="1700000000")  # fmt: skip
    assert value == "c5bcc253fa6d958f17fe86f51ed657295f8431a6b09f86581f5f5cefb3b29e6b"


def test_pushes_with_ids_trigger_a_detail_fetch(api: SandboxAPI) -> None:
    account = douyin_account(api)
    report = api.douyin.push_orders(
        account=account_config(account), hook_url=f"http://hub/hooks/{account.code}/",
        count=8, seed=7, now=datetime.now(UTC), send=deliver_in_process,
    )  # fmt: skip
    pushes = InboundMessage.objects.filter(account=account, source="webhook").count()
    assert pushes == report.sent > 8
    _drain()
    assert Order.objects.filter(channel=account.code, lines__isnull=False).count() == 0

    result = account_poll(account_id=account.pk)

    assert result.outcome == "ok"
    assert api.calls["order.orderDetail"] == 8  # one per pushed order, not per push
    details = InboundMessage.objects.filter(account=account, source="poll")
    assert details.count() == 8  # the search found the same versions: skipped
    _drain()
    for order in report.orders:
        hub = Order.objects.get(channel=account.code, external_id=order.external_id)
        assert hub.status == order.final_milestone
        assert hub.lines.count() == len(order.lines)
        assert StatusFact.objects.filter(order=hub, raw_status__startswith="order_status:").exists()

    # Nothing new: no further detail calls.
    account_poll(account_id=account.pk)
    assert api.calls["order.orderDetail"] == 8


def test_a_poll_completes_only_its_own_accounts_pushes(api: SandboxAPI) -> None:
    """The poll service reads the stored pushes for the puller: this account's webhooks only."""
    pushed = douyin_account(api, code="douyin-pushed")
    other = douyin_account(api, code="douyin-other")
    api.douyin.push_orders(
        account=account_config(pushed), hook_url=f"http://hub/hooks/{pushed.code}/",
        count=3, seed=11, now=datetime.now(UTC), send=deliver_in_process,
    )  # fmt: skip
    search_calls = api.calls["order.searchList"]

    assert account_poll(account_id=other.pk).outcome == "ok"
    assert api.calls["order.orderDetail"] == 0  # the other shop's pushes are not its own
    assert api.calls["order.searchList"] == search_calls + 1  # (one sandbox shop: it finds all)

    assert account_poll(account_id=pushed.pk).outcome == "ok"
    assert api.calls["order.orderDetail"] == 3
    assert InboundMessage.objects.filter(account=pushed, source="poll").count() == 3


def test_search_finds_orders_whose_pushes_never_arrived(api: SandboxAPI) -> None:
    account = douyin_account(api)
    report = api.douyin.push_orders(
        account=account_config(account), hook_url="http://hub/hooks/x/", count=130, seed=3,
        now=datetime.now(UTC), drop_rate=1.0, send=deliver_in_process,
    )  # fmt: skip
    assert (report.sent, InboundMessage.objects.count()) == (0, 0)

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.messages) == ("ok", 130)
    assert api.calls["order.searchList"] == 2  # 130 orders, pages of 100
    _drain()
    assert Order.objects.filter(channel=account.code).count() == 130


def test_rate_limited_search_is_waited_out(api: SandboxAPI) -> None:
    account = douyin_account(api)
    api.douyin.push_orders(
        account=account_config(account), hook_url="http://hub/hooks/x/", count=5, seed=5,
        now=datetime.now(UTC), drop_rate=1.0, send=deliver_in_process,
    )  # fmt: skip
    api.faults.rate_limit["order.searchList"] = 2

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.messages, result.rate_limited) == ("ok", 5, 2)


def test_the_lease_stops_a_second_concurrent_poll(api: SandboxAPI) -> None:
    account = douyin_account(api)
    api.faults.pause_after["order.searchList"] = 0
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(account_poll(account_id=account.pk)))
    first.start()
    while api.faults.paused["order.searchList"] == 0:
        time.sleep(0.05)

    assert account_poll(account_id=account.pk, force=True).outcome == "skipped_locked"
    assert api.calls["order.searchList"] == 1
    api.faults.release()
    first.join(timeout=30)
    assert results[0].outcome == "ok"


def test_revoked_access_token_flags_the_account(api: SandboxAPI) -> None:
    account = douyin_account(api)
    api.douyin.tokens.clear()
    assert account_poll(account_id=account.pk).outcome == "terminal_error"
    account.refresh_from_db()
    assert account.needs_attention is True
    assert "30002" in account.attention_reason


def test_push_only_account_without_access_token_is_never_called(api: SandboxAPI) -> None:
    """A shop that only pushes (no API access granted) costs no HTTP call, here or anywhere."""
    from channels_app.pull.reconcile import channel_reconcile
    from channels_app.services import channel_account_create

    account = channel_account_create(
        kind="douyin",
        code="douyin-push-only",
        # No base_url: production by default; no access token, so write-back is off.
        options={"app_key": "7100000000000000009", "writeback": "off"},
        secrets={"app_secret": "push-secret"},
    )
    result = account_poll(account_id=account.pk)
    now = datetime.now(UTC)
    run = channel_reconcile(account_id=account.pk, window_start=now.replace(hour=0), window_end=now)

    assert (result.outcome, result.pages, result.messages) == ("ok", 1, 0)
    assert run is not None
    assert run.missing_count == 0
    assert sum(api.calls.values()) == 0


def test_crash_between_two_search_pages_resumes_without_loss_or_duplicate(
    api: SandboxAPI, tmp_path: Path
) -> None:
    account = douyin_account(api)
    api.douyin.push_orders(
        account=account_config(account), hook_url="http://hub/hooks/x/", count=250, seed=7,
        # An hour back: generated orders may carry step times up to ~48 minutes after `now`,
        # and the search only sees what was updated before the moment it runs.
        now=datetime.now(UTC) - timedelta(hours=1), drop_rate=1.0, send=deliver_in_process,
    )  # fmt: skip
    # Page 1 (100 orders) is stored; the call for page 2 hangs until the process is killed.
    poll_killed_while_held(
        api, account_id=account.pk, operation="order.searchList", calls=1, log=tmp_path / "log"
    )
    assert InboundMessage.objects.filter(account=account).count() == 100
    assert account_poll(account_id=account.pk).outcome == "skipped_locked"  # dead poll's lease

    time.sleep(2.2)  # until it expires
    result = account_poll(account_id=account.pk)

    assert result.outcome == "ok"
    keys = list(InboundMessage.objects.filter(account=account).values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == 250
    assert InboundMessage.objects.filter(account=account, duplicate_count__gt=0).count() == 0
    _drain()
    assert Order.objects.filter(channel=account.code).count() == 250
