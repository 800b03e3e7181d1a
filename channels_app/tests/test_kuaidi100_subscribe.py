"""Kuaidi100: the subscription written once per waybill and sent by the relay, the overdue
poll of waybills whose pushes stopped, and the stand-in's query sign check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app.adapters.kuaidi100.client import kuaidi100_company, kuaidi100_query_sign
from channels_app.models import ChannelAccount, OutboundCall, OutboxEntry, OutboxStatus, PollState
from channels_app.outbound.courier_writers import subscribe_key
from channels_app.outbound.relay import outbox_relay_pending
from channels_app.pull.courier_poll import kuaidi100_overdue_poll
from channels_app.pull.services import poll_lease_acquire
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import KUAIDI100_KEY, kuaidi100_account
from channels_app.services import channel_account_create
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order, StatusFact, TrackingEvent
from orderhub.services import order_upsert
from tests.factories import OrderFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db
WMS = "wms:WH-SH"
SYSTEM = "kuaidi100:kd100-main"


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def _issue(order: Order, *, carrier: str = "sf", number: str = "SF1000000001") -> None:
    """The WMS prints the label: the order reaches waybill_issued with its waybill."""
    order_upsert(
        normalized=NormalizedOrder(
            channel=order.channel, external_id=order.external_id, carrier=carrier,
            tracking_number=number,
            facts=(StatusFactIn(WMS, "LABEL_PRINTED", "waybill_issued", timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip


def _fact(order: Order, raw: str, milestone: str) -> None:
    order_upsert(
        normalized=NormalizedOrder(
            channel=order.channel, external_id=order.external_id,
            facts=(StatusFactIn(WMS, raw, milestone, timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip


def test_waybill_issued_subscribes_once_and_the_relay_sends_it(api: SandboxAPI) -> None:
    account = kuaidi100_account(api)
    order = OrderFactory.create(status="paid")

    _issue(order)

    entry = OutboxEntry.objects.get()
    assert (entry.account_id, entry.order_id, entry.action, entry.milestone, entry.status) == (
        account.pk, order.pk, "subscribe", "waybill_issued", "pending",
    )  # fmt: skip
    assert entry.idempotency_key == "kd100-main:subscribe:SF1000000001"
    assert (entry.payload["carrier"], entry.payload["tracking_number"]) == ("sf", "SF1000000001")
    assert OutboundCall.objects.count() == 0  # nothing leaves inside the transaction

    assert outbox_relay_pending() == 1

    entry.refresh_from_db()
    assert (entry.status, entry.attempts, entry.remote_ref) == ("acknowledged", 1, "SF1000000001")
    call = OutboundCall.objects.get()
    assert (call.outbox_id, call.operation, call.method, call.url, call.response_status) == (
        entry.pk, "kuaidi100.subscribe", "POST", f"{api.url}/poll", 200,
    )  # fmt: skip
    assert json.loads(call.response_body) == {
        "result": True, "returnCode": "200", "message": "提交成功",
    }  # fmt: skip
    form = json.loads(call.request_body)  # the form fields as logged
    assert set(form) == {"schema", "param"}
    assert form["schema"] == "json"
    key, _customer, salt = KUAIDI100_KEY
    assert key not in call.request_body  # masked in the log
    assert salt not in call.request_body  # the push-signing salt too
    assert json.loads(form["param"]) == {
        "company": "shunfeng", "number": "SF1000000001", "from": "", "to": "", "key": "***",
        "parameters": {"callbackurl": "http://127.0.0.1/hooks/kd100-main/", "salt": "••••",
                       "resultv2": "1"},
    }  # fmt: skip
    received = api.kuaidi100.subscriptions["SF1000000001"]  # the form the stand-in got
    assert (received["company"], received["key"], received["parameters"]) == (
        "shunfeng", key,
        {"callbackurl": "http://127.0.0.1/hooks/kd100-main/", "salt": salt, "resultv2": "1"},
    )  # fmt: skip
    assert api.effective[("kuaidi100", "SF1000000001")] == 1
    ack = StatusFact.objects.get(system=SYSTEM)
    assert (ack.order_id, ack.raw_status, ack.milestone) == (
        order.pk, "ack:subscribe", "waybill_issued",
    )  # fmt: skip

    # Later facts of the same waybill (handed over, collected) write no second entry.
    _fact(order, "SHIPPED", "handed_over")
    assert OutboxEntry.objects.count() == 1
    assert outbox_relay_pending() == 0
    assert api.calls["kuaidi100.subscribe"] == 1


def test_a_waybill_subscribed_before_is_already_done(api: SandboxAPI) -> None:
    """Kuaidi100 answers 501 for a number it has: the entry is done, nothing subscribed twice."""
    account = kuaidi100_account(api)
    api.kuaidi100.subscriptions["ZTO7000000001"] = {"company": "zhongtong", "at": timezone.now()}
    order = OrderFactory.create(status="paid")

    _issue(order, carrier="zto", number="ZTO7000000001")
    assert outbox_relay_pending() == 1

    entry = OutboxEntry.objects.get(account=account)
    assert entry.status == OutboxStatus.ACKNOWLEDGED
    call = OutboundCall.objects.get()
    assert call.outcome == "already_done"
    assert json.loads(call.response_body) == {
        "result": False, "returnCode": "501", "message": "重复订阅",
    }  # fmt: skip
    assert api.effective[("kuaidi100", "ZTO7000000001")] == 0
    ack = LedgerEvent.objects.get(action="outbound.acknowledged")
    assert ack.after == {"action": "subscribe", "already_done": True, "attempts": 1}


def test_a_refused_subscription_fails_with_its_message(api: SandboxAPI) -> None:
    kuaidi100_account(api)
    api.kuaidi100.keys.clear()  # the key is not (or no longer) Kuaidi100's
    order = OrderFactory.create(status="paid")
    _issue(order)

    outbox_relay_pending()

    entry = OutboxEntry.objects.get()
    account = ChannelAccount.objects.get()
    assert entry.status == "retry"  # parked until a person fixes the key
    assert (account.needs_attention, account.attention_reason) == (
        True, "kuaidi100 refused the key: 600 您不是合法的订阅者",
    )  # fmt: skip


def test_no_kuaidi100_account_or_no_key_writes_nothing(api: SandboxAPI) -> None:
    order = OrderFactory.create(status="paid")
    _issue(order)
    assert OutboxEntry.objects.count() == 0

    channel_account_create(kind="kuaidi100", code="kd100-push", options={}, secrets={"salt": "s"})
    other = OrderFactory.create(status="paid")
    _issue(other, number="SF1000000002")
    assert OutboxEntry.objects.count() == 0
    assert LedgerEvent.objects.filter(action="outbox.written").count() == 0


def test_a_tracking_number_that_arrives_after_the_waybill_is_subscribed(api: SandboxAPI) -> None:
    """Issued without a number: nothing yet; the number comes with a later fact: one entry."""
    account = kuaidi100_account(api)
    order = OrderFactory.create(status="paid")
    _issue(order, carrier="", number="")
    assert OutboxEntry.objects.count() == 0

    order_upsert(
        normalized=NormalizedOrder(
            channel=order.channel, external_id=order.external_id, carrier="yto",
            tracking_number="YT9000000001",
            facts=(StatusFactIn(WMS, "SHIPPED", "handed_over", timezone.now()),),
        ),
        user=None, source=WMS,
    )  # fmt: skip

    entry = OutboxEntry.objects.get()
    assert (entry.account_id, entry.idempotency_key, entry.payload["carrier"]) == (
        account.pk, "kd100-main:subscribe:YT9000000001", "yto",
    )  # fmt: skip
    assert LedgerEvent.objects.filter(action="outbox.written", order_id=order.pk).count() == 1


def test_carrier_codes_map_to_kuaidi100_companies() -> None:
    assert [kuaidi100_company(c) for c in ("jd", "sf", "yto", "zto", "sto", "yunda", "ems")] == [
        "jd", "shunfeng", "yuantong", "zhongtong", "shentong", "yunda", "ems",
    ]  # fmt: skip
    assert kuaidi100_company("debangwuliu") == "debangwuliu"


def _subscribed(api: SandboxAPI, number: str, *, status: str, hours_ago: float) -> Order:
    order = OrderFactory.create(status="paid")
    _issue(order, number=number)
    if status != "waybill_issued":
        _fact(order, "SHIPPED", "handed_over")
    if status == "delivered":
        _fact(order, "SIGNED", "delivered")
    OutboxEntry.objects.filter(idempotency_key=subscribe_key("kd100-main", number)).update(
        status=OutboxStatus.ACKNOWLEDGED,
        acknowledged_at=timezone.now() - timedelta(hours=hours_ago),
    )
    order.refresh_from_db()
    assert order.status == status
    return order


def _trace(number: str) -> list[dict[str, str]]:
    return [
        {"time": "2026-12-01 18:00:00", "ftime": "2026-12-01 18:00:00", "context": "快件已签收",
         "status": "签收", "statusCode": "301", "areaName": "杭州"},
        {"time": "2026-12-01 09:00:00", "ftime": "2026-12-01 09:00:00", "context": "快件已揽收",
         "status": "揽收", "statusCode": "1", "areaName": "上海"},
    ]  # fmt: skip


def test_the_overdue_poll_queries_exactly_the_overdue_waybills(api: SandboxAPI) -> None:
    account = kuaidi100_account(api)
    overdue = _subscribed(api, "SF2000000001", status="handed_over", hours_ago=8)
    pushed = _subscribed(api, "SF2000000002", status="handed_over", hours_ago=8)
    fresh = _subscribed(api, "SF2000000003", status="handed_over", hours_ago=1)
    delivered = _subscribed(api, "SF2000000004", status="delivered", hours_ago=8)
    issued = _subscribed(api, "SF2000000005", status="waybill_issued", hours_ago=8)
    # A push arrived for "pushed" an hour ago: not overdue.
    TrackingEvent.objects.create(
        system=SYSTEM, carrier="shunfeng", tracking_number=pushed.tracking_number,
        occurred_at=timezone.now() - timedelta(hours=2),
        received_at=timezone.now() - timedelta(hours=1),
        stage="in_transit", raw_state="0", dedupe_key="pushed-1",
    )  # fmt: skip
    api.kuaidi100.trace_set(overdue.tracking_number, _trace(overdue.tracking_number), state="301")
    del fresh, delivered, issued

    result = kuaidi100_overdue_poll(account_id=account.pk)

    assert (result.outcome, result.queried, result.events, result.errors) == ("ok", 1, 2, 0)
    assert [json.loads(q["param"])["num"] for q in api.kuaidi100.queries] == ["SF2000000001"]
    call = OutboundCall.objects.get(operation="kuaidi100.query")
    assert (call.order_id_ref, call.response_status, call.outbox_id) == (overdue.pk, 200, None)
    events = list(
        TrackingEvent.objects.filter(tracking_number="SF2000000001").values_list(
            "order_id", "system", "stage", "raw_state", "raw_substate", "milestone"
        )
    )
    assert events == [
        (overdue.pk, SYSTEM, "in_transit", "1", "", "collected"),
        (overdue.pk, SYSTEM, "delivered", "3", "301", "delivered"),
    ]
    facts = list(
        StatusFact.objects.filter(order=overdue, system=SYSTEM)
        .order_by("occurred_at")
        .values_list("milestone", flat=True)
    )
    assert facts == ["collected", "delivered"]
    overdue.refresh_from_db()
    assert overdue.status == "delivered"
    state = PollState.objects.get(account=account)
    assert (state.lease_owner, state.last_outcome, state.cursor) == ("", "ok", {"after_entry": 0})

    # The same trace again (a push or the next poll) stores nothing twice.
    assert kuaidi100_overdue_poll(account_id=account.pk).queried == 0
    assert TrackingEvent.objects.filter(tracking_number="SF2000000001").count() == 2


def test_the_overdue_poll_skips_while_another_run_holds_the_lease(api: SandboxAPI) -> None:
    account = kuaidi100_account(api)
    _subscribed(api, "SF3000000001", status="handed_over", hours_ago=8)
    assert poll_lease_acquire(account_id=account.pk, owner="other-run") is not None

    assert kuaidi100_overdue_poll(account_id=account.pk).outcome == "skipped_locked"
    assert api.kuaidi100.queries == []


def test_the_stand_in_refuses_a_bad_query_sign(api: SandboxAPI) -> None:
    key, customer, _salt = KUAIDI100_KEY
    api.kuaidi100.account_add(key, customer)
    api.kuaidi100.trace_set("SF4000000001", _trace("SF4000000001"))
    param = json.dumps({"com": "shunfeng", "num": "SF4000000001", "resultv2": "1"})

    url = f"{api.url}/poll/query.do"
    wrong = kuaidi100_query_sign(param, "not-the-key", customer)
    right = kuaidi100_query_sign(param, key, customer)

    bad = requests.post(url, data={"customer": customer, "param": param, "sign": wrong}, timeout=5)
    good = requests.post(url, data={"customer": customer, "param": param, "sign": right}, timeout=5)

    assert bad.json() == {"result": False, "returnCode": "503", "message": "验证签名失败"}
    assert (good.json()["nu"], good.json()["state"], len(good.json()["data"])) == (
        "SF4000000001", "0", 2,
    )  # fmt: skip


def test_the_overdue_poll_is_a_beat_task_of_every_kuaidi100_account(api: SandboxAPI) -> None:
    from django.conf import settings

    from channels_app.pull.courier_poll import kuaidi100_overdue_poll_task
    from orderhub.celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE["channels-kuaidi100-overdue-poll"]
    assert (schedule["task"], schedule["schedule"]) == ("channels.kuaidi100_overdue_poll", 900.0)
    assert "channels.kuaidi100_overdue_poll" in app.tasks
    kuaidi100_account(api)
    order = OrderFactory.create(status="paid")
    _issue(order, number="SF5000000001")
    assert outbox_relay_pending() == 1  # subscribed at the stand-in
    _fact(order, "SHIPPED", "handed_over")
    OutboxEntry.objects.update(acknowledged_at=timezone.now() - timedelta(hours=7))

    assert kuaidi100_overdue_poll_task() == 1  # the stand-in's trace of a subscribed number
    assert TrackingEvent.objects.filter(tracking_number="SF5000000001").count() == 2


def test_a_query_that_fails_is_left_for_the_next_run(api: SandboxAPI) -> None:
    account = kuaidi100_account(api)
    order = _subscribed(api, "SF6000000001", status="handed_over", hours_ago=8)
    api.kuaidi100.trace_set(order.tracking_number, _trace(order.tracking_number), state="301")
    api.faults.server_error["kuaidi100.query"] = 2  # both attempts of the run answer 503

    failed = kuaidi100_overdue_poll(account_id=account.pk)

    assert (failed.outcome, failed.queried, failed.events, failed.errors) == ("ok", 1, 0, 1)
    assert TrackingEvent.objects.filter(tracking_number=order.tracking_number).count() == 0
    assert PollState.objects.get(account=account).lease_owner == ""  # released
    again = kuaidi100_overdue_poll(account_id=account.pk)
    assert (again.queried, again.events, again.errors) == (1, 2, 0)
