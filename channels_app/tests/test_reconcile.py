"""Reconciliation finds what a channel has and OrderHub never received, and replays it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from channels_app.models import InboundMessage, PollState, ReconciliationRun
from channels_app.pull.reconcile import channel_reconcile
from channels_app.pull.services import account_poll
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.erp import erp_database_create, erp_row_insert
from channels_app.sandbox_api.testing import (
    deliver_in_process,
    douyin_account,
    kingdee_account,
    pinduoduo_account,
)
from channels_app.selectors import account_config
from channels_app.services import inbox_process_pending
from orderhub.models import Order
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def _drain() -> None:
    while inbox_process_pending(limit=200):
        pass


def test_five_percent_dropped_pushes_are_recovered_within_two_cycles(api: SandboxAPI) -> None:
    account = douyin_account(api)
    now = datetime.now(UTC)
    report = api.douyin.push_orders(
        account=account_config(account), hook_url=f"http://hub/hooks/{account.code}/",
        count=200, seed=2024, drop_rate=0.05, now=now, send=deliver_in_process,
    )  # fmt: skip
    _drain()

    def wrong() -> list[str]:
        hub = dict(Order.objects.filter(channel=account.code).values_list("external_id", "status"))
        return [o.external_id for o in report.orders if hub.get(o.external_id) != o.final_milestone]

    assert report.dropped > 10  # about 5% of the pushes never arrived...
    lost = wrong()
    assert len(lost) > 5  # ...and left orders missing or behind
    # The generated stories run from 10 hours ago to up to an hour ahead.
    window = (now - timedelta(hours=12), now + timedelta(hours=2))

    first = channel_reconcile(account_id=account.pk, window_start=window[0], window_end=window[1])
    _drain()
    second = channel_reconcile(account_id=account.pk, window_start=window[0], window_end=window[1])

    assert first is not None
    assert second is not None
    assert (first.channel_count, first.missing_count, first.replayed_count) == (
        200, len(lost), len(lost),
    )  # fmt: skip
    assert sorted(first.missing_ids) == sorted(lost)
    assert first.ingested_count == 200 - len(lost)
    assert (second.missing_count, second.replayed_count) == (0, 0)
    assert wrong() == []
    assert LedgerEvent.objects.filter(action="channel.gap_found").count() == 1
    assert ReconciliationRun.objects.count() == 2


def test_no_gap_no_replay(api: SandboxAPI) -> None:
    account = douyin_account(api)
    now = datetime.now(UTC)
    api.douyin.push_orders(
        account=account_config(account), hook_url="http://hub/hooks/x/", count=20, seed=1,
        now=now, send=deliver_in_process,
    )  # fmt: skip
    _drain()
    messages = InboundMessage.objects.count()

    run = channel_reconcile(
        account_id=account.pk,
        window_start=now - timedelta(hours=12),
        window_end=now + timedelta(hours=2),
    )

    assert run is not None
    assert (run.channel_count, run.missing_count, run.replayed_count) == (20, 0, 0)
    assert api.calls["order.orderDetail"] == 0
    assert InboundMessage.objects.count() == messages
    assert not LedgerEvent.objects.filter(action="channel.gap_found").exists()


def test_an_order_updated_behind_the_poll_cursor_is_found(api: SandboxAPI) -> None:
    now = datetime.now(UTC)
    account = pinduoduo_account(api, lookback_hours="1")
    api.pinduoduo.order_add(updated=now - timedelta(minutes=30), number=1)
    account_poll(account_id=account.pk, budget_seconds=30)
    _drain()
    assert PollState.objects.get(account=account).cursor["start_next"] > 0
    # The platform shows an order late, with an update time the cursor already passed.
    late = api.pinduoduo.order_add(updated=now - timedelta(minutes=20), number=2)
    assert account_poll(account_id=account.pk).messages == 0

    run = channel_reconcile(
        account_id=account.pk, window_start=now - timedelta(hours=1), window_end=now
    )

    assert run is not None
    assert (run.channel_count, run.missing_count, run.missing_ids) == (2, 1, [late])
    _drain()
    assert Order.objects.get(external_id=late).status == "paid"


def test_erp_rows_missed_by_the_watermark_are_replayed() -> None:
    from conftest import database_url_for_subprocess

    dsn = erp_database_create(
        server_dsn=database_url_for_subprocess(), name=f"{connection.settings_dict['NAME']}_erp"
    )
    with psycopg.connect(dsn, autocommit=True) as erp:
        erp.execute("TRUNCATE t_orderhub_order_sync, t_orderhub_writeback RESTART IDENTITY")
    account = kingdee_account(dsn, overlap_seconds="0")
    slow = psycopg.connect(dsn)
    erp_row_insert(slow, channel="shop-a", bill_no="LATE", status="PACKED")
    with psycopg.connect(dsn, autocommit=True) as erp:
        erp_row_insert(erp, channel="shop-a", bill_no="EARLY", status="PACKED")
    account_poll(account_id=account.pk)
    slow.commit()
    slow.close()
    account_poll(account_id=account.pk)
    assert InboundMessage.objects.filter(account=account).count() == 1  # LATE was missed

    now = timezone.now()
    run = channel_reconcile(
        account_id=account.pk, window_start=now - timedelta(hours=1), window_end=now
    )

    assert run is not None
    assert (run.channel_count, run.missing_count, run.replayed_count) == (2, 1, 1)
    _drain()
    assert Order.objects.get(external_id="LATE").status == "picked_packed"
