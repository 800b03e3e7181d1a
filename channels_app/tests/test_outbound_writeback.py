"""Write-back: a warehouse shipment reaches the channel once, acknowledged as a fact."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from channels_app.adapters.kingdee_k3.client import kingdee_k3_write
from channels_app.http import HttpClient
from channels_app.models import (
    ChannelAccount,
    OutboundCall,
    OutboundOutcome,
    OutboxEntry,
    OutboxStatus,
)
from channels_app.outbound.base import WriteRequest, writers
from channels_app.outbound.relay import outbox_relay_pending
from channels_app.outbound.tasks import outbox_sweep_task
from channels_app.pull.services import account_poll
from channels_app.sandbox.generator import generate_order
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.erp import erp_database_create
from channels_app.sandbox_api.testing import (
    amazon_account,
    deliver_in_process,
    douyin_account,
    kingdee_account,
    pinduoduo_account,
    shop_account,
)
from channels_app.selectors import account_config
from channels_app.services import inbox_process_pending
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order, StatusFact
from orderhub.services import order_upsert, status_fact_record

pytestmark = pytest.mark.django_db(transaction=True)
WMS = "wms:WH-SH"


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    sandbox.amazon.rate_limit_header = "1000.0"
    yield sandbox
    sandbox.stop()


def _drain() -> None:
    while inbox_process_pending(limit=100):
        pass


def _paid_douyin_order(api: SandboxAPI) -> tuple[ChannelAccount, Order]:
    """A Douyin order the hub learned by push, paid and not shipped."""
    account = douyin_account(api)
    now = datetime.now(UTC)
    seed = next(
        s for s in range(100)
        if generate_order("douyin", 0, random.Random(s), now).steps == ("placed", "paid")
    )  # fmt: skip
    report = api.douyin.push_orders(
        account=account_config(account), hook_url=f"http://hub/hooks/{account.code}/",
        count=1, seed=seed, now=now, send=deliver_in_process,
    )  # fmt: skip
    _drain()
    order = Order.objects.get(channel=account.code, external_id=report.orders[0].external_id)
    assert order.status == "paid"
    return account, order


def _ship_in_warehouse(order: Order, tracking: str = "SF1234567890") -> None:
    order_upsert(
        normalized=NormalizedOrder(
            channel=order.channel, external_id=order.external_id, carrier="shunfeng",
            tracking_number=tracking,
            facts=(StatusFactIn(WMS, "LABEL_PRINTED", "waybill_issued", timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip


def test_shipped_in_the_warehouse_reaches_the_channel_once(api: SandboxAPI) -> None:
    account, order = _paid_douyin_order(api)

    _ship_in_warehouse(order)

    entry = OutboxEntry.objects.get()
    assert (entry.account_id, entry.order_id, entry.action, entry.milestone, entry.status) == (
        account.pk, order.pk, "ship_confirm", "waybill_issued", "pending",
    )  # fmt: skip
    assert entry.payload["tracking_number"] == "SF1234567890"
    assert OutboundCall.objects.count() == 0  # nothing leaves inside the transaction

    assert outbox_relay_pending() == 1

    assert api.effective[("douyin", order.external_id)] == 1
    detail = api.douyin.orders[order.external_id]
    assert detail["logistics_info"] == [{"company": "shunfeng", "delivery_id": "SF1234567890"}]
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (OutboxStatus.ACKNOWLEDGED, 1)
    call = OutboundCall.objects.get()
    assert (call.operation, call.response_status, call.outcome) == (
        "logistics.add", 200, OutboundOutcome.ACKNOWLEDGED,
    )  # fmt: skip
    assert call.latency_ms is not None
    assert '"logistics_code":"SF1234567890"' in call.request_body
    for secret in account_config(account).secrets.values():
        assert secret not in f"{call.url} {call.request_body} {call.response_body}"
    ack = StatusFact.objects.get(order=order, raw_status="ack:ship_confirm")
    assert (ack.system, ack.milestone, ack.outcome) == (
        f"douyin:{account.code}", "waybill_issued", "confirmed",
    )  # fmt: skip

    # Nothing is due any more: a second relay run calls nobody.
    assert outbox_relay_pending() == 0
    assert api.effective[("douyin", order.external_id)] == 1
    assert OutboundCall.objects.count() == 1


def test_the_channel_is_not_told_what_it_said_itself(api: SandboxAPI) -> None:
    account, order = _paid_douyin_order(api)
    status_fact_record(
        order_id=order.pk,
        fact=StatusFactIn(f"douyin:{account.code}", "tag:102", "handed_over", timezone.now()),
    )
    order.refresh_from_db()
    assert order.status == "handed_over"  # passed waybill_issued on the way
    assert OutboxEntry.objects.count() == 0


def test_the_same_milestone_twice_is_one_outbox_row(api: SandboxAPI) -> None:
    _account, order = _paid_douyin_order(api)
    _ship_in_warehouse(order)
    _ship_in_warehouse(order, tracking="SF1234567890")
    assert OutboxEntry.objects.count() == 1


def _amazon_order(api: SandboxAPI) -> tuple[ChannelAccount, Order]:
    order_id = api.amazon.order_add(
        status="Unshipped", updated=datetime.now(UTC) - timedelta(hours=1), number=1
    )
    account = amazon_account(api)
    account_poll(account_id=account.pk)
    _drain()
    return account, Order.objects.get(external_id=order_id)


def _pdd_order(api: SandboxAPI) -> tuple[ChannelAccount, Order]:
    order_sn = api.pinduoduo.order_add(updated=datetime.now(UTC) - timedelta(hours=1), number=1)
    account = pinduoduo_account(api, lookback_hours="2", logistics_ids="shunfeng=44")
    account_poll(account_id=account.pk)
    _drain()
    return account, Order.objects.get(external_id=order_sn)


@pytest.mark.parametrize(
    ("make", "platform", "operation"),
    [(_amazon_order, "amazon", "confirmShipment"),
     (_pdd_order, "pinduoduo", "pdd.logistics.online.send")],
)  # fmt: skip
def test_each_platform_gets_its_real_call(
    api: SandboxAPI, make: Callable[[SandboxAPI], tuple[ChannelAccount, Order]], platform: str,
    operation: str,
) -> None:  # fmt: skip
    account, order = make(api)
    assert order.status == "paid"

    _ship_in_warehouse(order)
    outbox_relay_pending()

    assert api.effective[(platform, order.external_id)] == 1
    assert api.calls[operation] == 1
    assert OutboxEntry.objects.get().status == OutboxStatus.ACKNOWLEDGED
    assert StatusFact.objects.filter(
        order=order, system=f"{platform}:{account.code}", raw_status="ack:ship_confirm"
    ).exists()
    # The log keeps the call, not the credentials: no secret value rests in the database.
    secrets = [v for v in account_config(account).secrets.values() if len(v) >= 4]
    stored = [f"{c.url} {c.request_body} {c.response_body}" for c in OutboundCall.objects.all()]
    assert secrets
    assert stored
    assert [s for s in secrets if any(s in text for text in stored)] == []
    if platform == "amazon":
        package = api.amazon.orders[order.external_id]["package"]
        assert (package["trackingNumber"], package["carrierCode"]) == ("SF1234567890", "shunfeng")
    else:
        info = api.pinduoduo.orders[order.external_id]
        assert (info["order_status"], info["tracking_number"], info["logistics_id"]) == (
            2, "SF1234567890", "44",
        )  # fmt: skip


def test_transient_errors_retry_with_backoff(api: SandboxAPI) -> None:
    _account, order = _paid_douyin_order(api)
    _ship_in_warehouse(order)
    api.faults.server_error["logistics.add"] = 5  # more than one relay attempt absorbs

    outbox_relay_pending()

    entry = OutboxEntry.objects.get()
    assert (entry.status, entry.attempts) == (OutboxStatus.RETRY, 1)
    assert entry.next_attempt_at > timezone.now()
    assert api.effective[("douyin", order.external_id)] == 0
    assert OutboundCall.objects.filter(outcome=OutboundOutcome.TRANSIENT).count() == 3
    assert not StatusFact.objects.filter(raw_status="ack:ship_confirm").exists()

    api.faults.clear()
    OutboxEntry.objects.update(next_attempt_at=timezone.now())
    outbox_relay_pending()
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (OutboxStatus.ACKNOWLEDGED, 2)
    assert api.effective[("douyin", order.external_id)] == 1


def test_refused_credentials_park_the_entry_and_flag_the_account(api: SandboxAPI) -> None:
    account, order = _paid_douyin_order(api)
    _ship_in_warehouse(order)
    api.douyin.tokens.clear()

    outbox_relay_pending()

    entry = OutboxEntry.objects.get()
    account.refresh_from_db()
    assert (entry.status, account.needs_attention) == (OutboxStatus.RETRY, True)
    assert entry.next_attempt_at > timezone.now() + timedelta(minutes=10)
    assert api.effective[("douyin", order.external_id)] == 0


# --- the relay killed mid-send -------------------------------------------------------------


def _kill_tree(pid: int) -> None:
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs([parent], timeout=10)


def _wait(condition: Callable[[], Any], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def short_outbox_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "3")


@pytest.mark.slow
def test_relay_killed_mid_send_ends_with_exactly_one_effective_call(
    api: SandboxAPI, short_outbox_lease: None, celery_queue: str, tmp_path: Path
) -> None:
    from conftest import WorkerProcess

    _account, order = _paid_douyin_order(api)
    api.faults.hold_after_effect["logistics.add"] = 60  # the effect happens, the answer hangs
    first = WorkerProcess(celery_queue, tmp_path / "worker1.log")
    first.start()
    try:
        _ship_in_warehouse(order)  # the hook queues the relay task on commit
        _wait(lambda: api.effective[("douyin", order.external_id)] == 1, "the first send")
        assert first.process is not None
        _kill_tree(first.process.pid)
    finally:
        first.stop()
    api.faults.clear()
    entry = OutboxEntry.objects.get()
    assert (entry.status, entry.attempts) == (OutboxStatus.SENDING, 1)
    started = OutboundCall.objects.get()
    assert (started.outcome, started.response_status) == (OutboundOutcome.STARTED, None)

    second = WorkerProcess(celery_queue, tmp_path / "worker2.log")
    second.start()
    try:
        time.sleep(3.2)  # the dead relay's lease expires
        outbox_sweep_task.apply_async()
        _wait(
            lambda: OutboxEntry.objects.filter(status=OutboxStatus.ACKNOWLEDGED).exists(),
            "the acknowledgement",
        )
    finally:
        second.stop()

    assert api.effective[("douyin", order.external_id)] == 1
    assert api.calls["logistics.add"] == 1  # the re-send checked first and sent nothing
    entry.refresh_from_db()
    assert entry.attempts == 2
    calls = list(OutboundCall.objects.order_by("id").values_list("operation", "outcome"))
    assert calls == [
        ("logistics.add", OutboundOutcome.STARTED),
        ("order.orderDetail", OutboundOutcome.ALREADY_DONE),
    ]
    ack = StatusFact.objects.get(order=order, raw_status="ack:ship_confirm")
    assert ack.milestone == "waybill_issued"


# --- the ERP learns payments and cancellations -----------------------------------------------


@pytest.fixture
def erp_dsn() -> str:
    from conftest import database_url_for_subprocess

    dsn = erp_database_create(
        server_dsn=database_url_for_subprocess(), name=f"{connection.settings_dict['NAME']}_erp"
    )
    with psycopg.connect(dsn, autocommit=True) as erp:
        erp.execute("TRUNCATE t_orderhub_order_sync, t_orderhub_writeback RESTART IDENTITY")
    return dsn


def test_cancel_on_the_channel_sends_an_intercept_to_the_erp_once(
    api: SandboxAPI, erp_dsn: str
) -> None:
    erp = kingdee_account(erp_dsn)
    account, order = _paid_douyin_order(api)  # paid → the ERP gets the order
    status_fact_record(
        order_id=order.pk,
        fact=StatusFactIn(f"douyin:{account.code}", "tag:106", "cancelled", timezone.now()),
    )
    assert sorted(OutboxEntry.objects.values_list("action", flat=True)) == [
        "intercept", "order_paid",
    ]  # fmt: skip

    # A relay died after inserting the intercept row, before recording the acknowledgement:
    intercept = OutboxEntry.objects.get(action="intercept")
    kingdee_k3_write(
        account_config(erp), HttpClient(),
        WriteRequest(action=intercept.action, milestone=intercept.milestone,
                     external_id=order.external_id, payload=intercept.payload,
                     idempotency_key=intercept.idempotency_key, attempt=1),
    )  # fmt: skip

    assert outbox_relay_pending() == 2

    with psycopg.connect(erp_dsn) as database:
        rows = database.execute(
            "SELECT fbillno, faction FROM t_orderhub_writeback ORDER BY fid"
        ).fetchall()
    assert rows == [(order.external_id, "intercept"), (order.external_id, "order_paid")]
    outcomes = list(
        OutboundCall.objects.filter(operation="erp.writeback").order_by("id")
        .values_list("outcome", flat=True)
    )  # fmt: skip
    assert outcomes == ["acknowledged", "already_done"]
    assert StatusFact.objects.filter(order=order, raw_status="ack:intercept").count() == 1


def test_outbox_rows_are_not_written_without_a_writer_account() -> None:
    order_upsert(
        normalized=NormalizedOrder(
            channel="unknown-shop", external_id="X1",
            facts=(StatusFactIn(WMS, "LABEL_PRINTED", "waybill_issued", timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip
    assert Order.objects.get().status == "waybill_issued"
    assert OutboxEntry.objects.count() == 0
    assert os.environ.get("OUTBOX_LEASE_SECONDS") in (None, "3")


@pytest.mark.parametrize(
    ("kind", "external_id", "operation"),
    [("shopify", "820982911946154508", "shopify.fulfillments.json"),
     ("youzan", "E20260501123456000001", "youzan.logistics.online.confirm"),
     ("woocommerce", "727", "woocommerce.orders")],
)  # fmt: skip
def test_shop_channels_get_their_real_call_once(
    api: SandboxAPI, kind: str, external_id: str, operation: str
) -> None:
    account = shop_account(api, kind=kind, code=f"{kind}-shop")
    {"shopify": api.shops.shopify_order_add, "youzan": api.shops.youzan_trade_add,
     "woocommerce": api.shops.woo_order_add}[kind](external_id)  # fmt: skip
    order_upsert(
        normalized=NormalizedOrder(
            channel=account.code, external_id=external_id,
            facts=(StatusFactIn(f"{kind}:{account.code}", "paid", "paid", timezone.now()),),
        ),
        user=None, source=f"{kind}:{account.code}",
    )  # fmt: skip
    order = Order.objects.get(external_id=external_id)
    _ship_in_warehouse(order)

    entry = OutboxEntry.objects.get()
    request = WriteRequest(
        action=entry.action, milestone=entry.milestone, external_id=external_id,
        payload=entry.payload, idempotency_key=entry.idempotency_key, attempt=1,
    )  # fmt: skip
    first = writers.get(kind)(account_config(account), HttpClient(), request)
    assert first.already_done is False
    assert api.effective[(kind, external_id)] == 1

    # That relay died before recording the acknowledgement; the next one sends again.
    assert outbox_relay_pending() == 1

    assert api.effective[(kind, external_id)] == 1
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (OutboxStatus.ACKNOWLEDGED, 1)
    assert StatusFact.objects.filter(order=order, raw_status="ack:ship_confirm").count() == 1
    if kind == "shopify":
        fulfillment = api.shops.shopify[external_id]["fulfillments"][0]
        assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == (
            "SF1234567890", "shunfeng",
        )  # fmt: skip
    elif kind == "youzan":
        assert api.shops.youzan[external_id]["out_sid"] == "SF1234567890"
    else:
        assert api.shops.woo[external_id]["status"] == "completed"
