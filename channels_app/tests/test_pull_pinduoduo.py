"""Pinduoduo increment polling against the sandbox: windows, backwards paging, signing."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels_app.adapters.common import CHINA_TZ
from channels_app.adapters.pinduoduo.mapping import sign
from channels_app.models import InboundMessage, PollState
from channels_app.pull.services import account_poll
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import pinduoduo_account
from channels_app.services import inbox_process_pending
from channels_app.tests.pull_crash import poll_killed_while_held
from orderhub.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def _seed(
    api: SandboxAPI, count: int, *, start: datetime, step: timedelta, first: int = 0
) -> list[str]:
    return [
        api.pinduoduo.order_add(updated=start + step * n, number=first + n) for n in range(count)
    ]


def test_sign_matches_the_published_vector() -> None:
    params = {"client_id": "test-client", "data_type": "JSON", "logistics_id": 9,
              "order_sn": "240101-1", "order_state": 1, "timestamp": 1720000000,
              "type": "pdd.erp.order.sync", "version": "V1", "waybill_no": "SF123"}  # fmt: skip
    assert sign(params, "test-secret") == "CC0F30530BBAC3FD67608391D61E370C"


def test_sign_is_upper_md5_of_sorted_pairs_between_secrets() -> None:
    params = {"type": "pdd.order.information.get", "client_id": "abc", "timestamp": "1700000000",
              "data_type": "JSON", "order_sn": "123", "sign": "ignored", "empty": ""}  # fmt: skip
    # md5("s" + "client_idabc" "data_typeJSON" "order_sn123" "timestamp1700000000"
    #     "typepdd.order.information.get" + "s"), upper-case.
    plain = "sclient_idabcdata_typeJSONorder_sn123timestamp1700000000typepdd.order.information.gets"
    assert (
        sign(params, "s") == hashlib.md5(plain.encode(), usedforsecurity=False).hexdigest().upper()
    )
    assert sign(params, "s") == sign({k: v for k, v in params.items() if v}, "s")
    assert sign(params, "s").isupper()


def test_poll_walks_30_minute_windows_and_pages_backwards(api: SandboxAPI) -> None:
    now = datetime.now(CHINA_TZ)
    # 12 orders inside one window (3 pages of 5) and 4 more spread over the next hours.
    ids = _seed(api, 12, start=now - timedelta(hours=5, minutes=50), step=timedelta(seconds=30))
    ids += _seed(api, 4, start=now - timedelta(hours=3), step=timedelta(minutes=40), first=100)
    account = pinduoduo_account(api, page_size="5", lookback_hours="6")

    result = account_poll(account_id=account.pk, budget_seconds=60)

    assert (result.outcome, result.messages) == ("ok", 16)
    stored = InboundMessage.objects.filter(account=account)
    assert sorted(k.split("@")[0] for k in stored.values_list("dedupe_key", flat=True)) == sorted(
        ids
    )
    assert api.calls["pdd.order.number.list.increment.get"] >= 12  # one call per window at least
    state = PollState.objects.get(account=account)
    limit = (now - timedelta(minutes=3)).timestamp()
    assert abs(state.cursor["start_next"] - limit) < 120  # caught up to 3 minutes before now
    while inbox_process_pending(limit=100):
        pass
    assert Order.objects.filter(channel="pdd-shop", status="paid").count() == 16

    again = account_poll(account_id=account.pk)
    assert (again.outcome, again.messages) == ("ok", 0)


def test_windows_never_exceed_30_minutes(api: SandboxAPI) -> None:
    account = pinduoduo_account(api, lookback_hours="2")
    result = account_poll(account_id=account.pk, budget_seconds=60)
    # The sandbox refuses any window over 30 minutes with an error_response.
    assert result.outcome == "ok"
    assert api.calls["pdd.order.number.list.increment.get"] == 4


def test_rate_limited_call_is_retried_not_failed(api: SandboxAPI) -> None:
    now = datetime.now(CHINA_TZ)
    _seed(api, 6, start=now - timedelta(minutes=50), step=timedelta(minutes=1))
    account = pinduoduo_account(api, lookback_hours="1")
    api.faults.rate_limit["pdd.order.number.list.increment.get"] = 2

    result = account_poll(account_id=account.pk, budget_seconds=60)

    assert (result.outcome, result.messages, result.rate_limited) == ("ok", 6, 2)


def test_expired_access_token_flags_the_account(api: SandboxAPI) -> None:
    account = pinduoduo_account(api)
    api.pinduoduo.expire_token(account_token := "pdd-access-token")
    assert account_token

    result = account_poll(account_id=account.pk)

    assert result.outcome == "terminal_error"
    account.refresh_from_db()
    assert account.needs_attention is True
    assert "10019" in account.attention_reason


def test_the_lease_stops_a_second_concurrent_poll(api: SandboxAPI) -> None:
    now = datetime.now(CHINA_TZ)
    _seed(api, 6, start=now - timedelta(minutes=50), step=timedelta(minutes=1))
    account = pinduoduo_account(api, lookback_hours="1")
    api.faults.pause_after["pdd.order.number.list.increment.get"] = 0
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(account_poll(account_id=account.pk)))
    first.start()
    while api.faults.paused["pdd.order.number.list.increment.get"] == 0:
        time.sleep(0.05)

    assert account_poll(account_id=account.pk, force=True).outcome == "skipped_locked"
    assert api.calls["pdd.order.number.list.increment.get"] == 1

    api.faults.release()
    first.join(timeout=30)
    assert results[0].outcome == "ok"
    assert InboundMessage.objects.filter(account=account).count() == 6


def test_crash_between_two_pages_resumes_without_loss_or_duplicate(
    api: SandboxAPI, tmp_path: Path
) -> None:
    """The poll process is SIGKILLed while it waits for page 3; the next poll finishes the job."""
    now = datetime.now(CHINA_TZ)
    ids = _seed(api, 12, start=now - timedelta(minutes=50), step=timedelta(seconds=30))
    account = pinduoduo_account(api, page_size="5", lookback_hours="1")
    # After three list calls the sandbox holds every further call: the poll has stored part
    # of the window and hangs until the process is killed.
    poll_killed_while_held(
        api,
        account_id=account.pk,
        operation="pdd.order.number.list.increment.get",
        calls=3,
        log=tmp_path / "poll.log",
    )
    stored_before = InboundMessage.objects.filter(account=account).count()
    assert 0 < stored_before < 12  # killed in the middle of the window
    assert account_poll(account_id=account.pk).outcome == "skipped_locked"  # dead poll's lease

    time.sleep(2.2)  # until the lease expires
    result = account_poll(account_id=account.pk, budget_seconds=60)

    assert result.outcome == "ok"
    keys = list(InboundMessage.objects.filter(account=account).values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == 12
    assert {key.split("@")[0] for key in keys} == set(ids)
    assert InboundMessage.objects.filter(account=account, duplicate_count__gt=0).count() == 0
