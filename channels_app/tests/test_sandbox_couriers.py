"""The sandbox plays the couriers and the merchant's WMS/ERP through the real interfaces."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError, adapters
from channels_app.models import QuarantinedDelivery, SystemFactReceipt
from channels_app.parsing import payload_parse
from channels_app.sandbox import encoders, engine
from channels_app.sandbox.accounts import (
    sandbox_account,
    sandbox_accounts_setup,
    sandbox_systems,
    sandbox_systems_setup,
)
from channels_app.sandbox.generator import (
    COURIER_KINDS,
    CourierEvent,
    SandboxOrder,
    SystemFact,
    courier_events,
    generate_order,
    system_facts,
    warehouse_assortments,
    warehouse_of,
)
from channels_app.services import channel_account_create, inbox_process_pending
from channels_app.services.system_facts import system_facts_drain, system_reporter_add
from orderhub.choices import Milestone, TrackingStage
from orderhub.domain import NormalizedTracking
from orderhub.models import Order, StatusFact, TrackingEvent, Warehouse
from tests.factories import OrderFactory, WarehouseFactory

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
COURIERS = {
    "kuaidi100": AccountConfig("c-kd", "kuaidi100", {}, {"salt": "salt-1"}),
    "track17": AccountConfig("c-17", "track17", {}, {"security_key": "key-17"}),
    "aftership": AccountConfig("c-as", "aftership", {}, {"webhook_secret": "as-secret"}),
}
# (stage, raw state, raw sub-state) each provider's adapter must read for the five scans.
EXPECTED = {
    "kuaidi100": [
        (TrackingStage.INFO_RECEIVED, "1", "101"),
        (TrackingStage.IN_TRANSIT, "1", "103"),
        (TrackingStage.IN_TRANSIT, "0", "1002"),
        (TrackingStage.OUT_FOR_DELIVERY, "5", ""),
        (TrackingStage.DELIVERED, "3", "301"),
    ],
    "track17": [
        (TrackingStage.INFO_RECEIVED, "InfoReceived", "InfoReceived"),
        (TrackingStage.IN_TRANSIT, "InTransit", "InTransit_PickedUp"),
        (TrackingStage.IN_TRANSIT, "InTransit", "InTransit_Other"),
        (TrackingStage.OUT_FOR_DELIVERY, "OutForDelivery", "OutForDelivery_Other"),
        (TrackingStage.DELIVERED, "Delivered", "Delivered_Other"),
    ],
    "aftership": [
        (TrackingStage.INFO_RECEIVED, "InfoReceived", "InfoReceived_001"),
        (TrackingStage.IN_TRANSIT, "InTransit", "InTransit_002"),
        (TrackingStage.IN_TRANSIT, "InTransit", "InTransit_001"),
        (TrackingStage.OUT_FOR_DELIVERY, "OutForDelivery", "OutForDelivery_001"),
        (TrackingStage.DELIVERED, "Delivered", "Delivered_001"),
    ],
}


def inbound(request: encoders.Request) -> InboundRequest:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return InboundRequest(request.body, headers, request.query, NOW)


def delivered_order() -> SandboxOrder:
    rng = random.Random(7)
    for number in range(200):
        order = generate_order("webform", number, rng, NOW)
        if order.steps[-1] == "delivered":
            return order
    raise AssertionError("no delivered story in 200 orders")


def test_a_delivered_order_has_five_scans_from_shipping_to_the_signature() -> None:
    order = delivered_order()
    events = courier_events(order, random.Random(1))
    shipped = order.step_times[order.steps.index("shipped")]
    delivered = order.step_times[order.steps.index("delivered")]
    assert [event.stage for event in events] == [
        "info_received", "collected", "in_transit", "out_for_delivery", "delivered",
    ]  # fmt: skip
    assert all(shipped < event.at <= delivered for event in events)
    assert [event.at for event in events] == sorted(event.at for event in events)
    assert events[-1].place == order.city


@pytest.mark.parametrize("kind", COURIER_KINDS)
def test_each_push_verifies_and_normalizes_to_the_trace_so_far(kind: str) -> None:
    order = delivered_order()
    events = courier_events(order, random.Random(1))
    account = COURIERS[kind]
    adapter = adapters.get(kind)()
    for count in range(1, len(events) + 1):
        payload = encoders.COURIER_PAYLOADS[kind](order, events[:count])
        request = encoders.wrap(account, payload, sent_at=NOW)
        verified = adapter.verify(account, inbound(request))
        (tracking,) = adapter.normalize(account, payload_parse(verified.payload))
        assert isinstance(tracking, NormalizedTracking)
        assert tracking.tracking_number == order.tracking_number
        got = sorted(
            (event.occurred_at, event.stage, event.raw_state, event.raw_substate)
            for event in tracking.events
        )
        want = [(e.at, *EXPECTED[kind][i]) for i, e in enumerate(events[:count])]
        assert got == want
        assert {event.system for event in tracking.events} == {f"{kind}:{account.code}"}
        if kind == "aftership":
            assert verified.delivery_id == payload.delivery_id != ""


def test_kuaidi100_push_is_the_form_kuaidi100_sends_newest_first_in_china_time() -> None:
    order = delivered_order()
    events = courier_events(order, random.Random(1))
    request = encoders.wrap(
        COURIERS["kuaidi100"], encoders.kuaidi100_payload(order, events), sent_at=NOW
    )
    form = parse_qs(request.body.decode())
    assert sorted(form) == ["param", "sign"]
    param = json.loads(form["param"][0])
    assert param["status"] == "shutdown"
    assert param["lastResult"]["ischeck"] == "1"
    assert param["lastResult"]["state"] == "301"
    times = [row["ftime"] for row in param["lastResult"]["data"]]
    assert times == sorted(times, reverse=True)
    assert times[0] == encoders.china(events[-1].at)
    assert len(times[0]) == 19  # "YYYY-MM-DD HH:MM:SS", no offset: China time


@pytest.mark.parametrize("kind", COURIER_KINDS)
@pytest.mark.parametrize("variant", [0, 1])
def test_forged_courier_pushes_are_refused(kind: str, variant: int) -> None:
    order = delivered_order()
    events = courier_events(order, random.Random(1))
    account = COURIERS[kind]
    request = encoders.wrap(
        account, encoders.COURIER_PAYLOADS[kind](order, events[:2]), sent_at=NOW
    )
    bad = encoders.bad_signature(kind, request, variant)
    assert bad != request
    with pytest.raises(VerificationError):
        adapters.get(kind)().verify(account, inbound(bad))


def test_system_facts_follow_the_story_and_carry_the_waybill_once_labelled() -> None:
    order = delivered_order()
    facts = system_facts(order)
    assert [(fact.system, fact.raw_status, fact.with_tracking) for fact in facts] == [
        ("erp", "APPROVED", False),
        ("wms", "ACCEPTED", False),
        ("wms", "PICKED", False),
        ("wms", "PACKED", False),
        ("wms", "LABELED", True),
        ("wms", "SHIPPED", True),
        ("erp", "SHIPPED", True),
    ]
    body = encoders.system_fact_body("wms-x", "shop-1", order, facts[4])
    assert body == {
        "key": f"wms-x-0-{order.number}-wms-labeled",
        "system": "wms-x",
        "order": {"channel": "shop-1", "external_id": order.external_id},
        "raw_status": "LABELED",
        "occurred_at": facts[4].at.isoformat(),
        "carrier": "SF",
        "tracking_number": order.tracking_number,
    }


def test_an_order_goes_to_the_first_warehouse_stocking_every_line() -> None:
    assortments = warehouse_assortments(["WH-B", "WH-A"])
    assert [code for code, _held in assortments] == ["WH-A", "WH-B"]
    assert len(assortments[0][1]) == 7
    assert len(assortments[1][1]) == 10
    rng = random.Random(3)
    orders = [generate_order("shopify", n, rng, NOW) for n in range(40)]
    homes = {warehouse_of(order, assortments) for order in orders}
    assert homes == {"WH-A", "WH-B"}
    for order in orders:
        if warehouse_of(order, assortments) == "WH-A":
            assert {line.sku for line in order.lines} <= assortments[0][1]


def test_cancelled_and_unpaid_stories_have_no_system_facts_or_scans() -> None:
    base = delivered_order()
    fields = {name: getattr(base, name) for name in SandboxOrder.__slots__}
    cancelled = SandboxOrder(**{**fields, "steps": ("placed", "cancelled")})
    placed = SandboxOrder(**{**fields, "steps": ("placed",)})
    for order in (cancelled, placed):
        assert system_facts(order) == ()
        assert courier_events(order, random.Random(1)) == ()
    assert isinstance(CourierEvent("collected", NOW, ""), CourierEvent)
    assert isinstance(SystemFact("wms", "PICKED", NOW, False), SystemFact)


PREFIX = "sbc"
KINDS = ("shopify", "woocommerce", "douyin", "youzan", "webform")


@pytest.mark.django_db(transaction=True)
def test_a_short_run_delivers_tracking_timelines_and_system_facts(live_server: Any) -> None:
    for code in ("WH-A", "WH-B"):
        Warehouse.objects.create(code=code, name=code)
    sandbox_accounts_setup(kinds=KINDS + COURIER_KINDS, prefix=PREFIX)
    sandbox_systems_setup(prefix=PREFIX)
    assert sandbox_systems_setup(prefix=PREFIX) == []  # idempotent: nothing new
    systems = sandbox_systems(prefix=PREFIX)
    assert systems is not None
    assert systems.wms == {"WH-A": "sbc-wms-wh-a", "WH-B": "sbc-wms-wh-b"}
    config = engine.RunConfig(
        url=live_server.url,
        rate=0,
        count=300,
        duplicates=0.2,
        bad_signatures=0.05,
        hostile=0.0,
        seed=20261202,
        threads=6,
        couriers=tuple(sandbox_account(kind, prefix=PREFIX) for kind in COURIER_KINDS),
        systems=systems,
    )
    started = datetime.now(UTC)
    ledger = engine.run([sandbox_account(kind, prefix=PREFIX) for kind in KINDS], config)
    while inbox_process_pending(limit=200):
        pass
    # The facts API stored the WMS/ERP facts; the worker's task applies them.
    assert system_facts_drain(limit=500, budget_seconds=60) > 0

    counts, groups = ledger.counts(), ledger.groups()
    assert 25 <= len(ledger.expected) <= 60
    assert groups["courier"] > 0
    assert groups["facts_api"] > 0
    assert {r.kind for r in ledger.sent if r.category == "bad_signature"} & set(COURIER_KINDS)
    assert [r for r in ledger.sent if r.status == 0 or r.status >= 500] == []
    assert {r.status // 100 for r in ledger.sent if r.category == "bad_signature"} == {4}
    assert {r.status // 100 for r in ledger.sent if r.category != "bad_signature"} == {2}
    assert [r.status for r in ledger.sent if r.category == "stock"] == [200, 200]

    # Every order in the status the channel, the WMS, the ERP and the courier took it to.
    actual = dict(
        ((channel, external_id), status)
        for channel, external_id, status in Order.objects.filter(
            channel__startswith=f"{PREFIX}-"
        ).values_list("channel", "external_id", "status")
    )
    assert actual == ledger.expected
    assert Milestone.DELIVERED in actual.values()
    assert Milestone.COLLECTED in actual.values()

    # Each waybill's timeline: one row per scan, attached to its order, collected (and
    # delivered) facts from the provider at the carrier's own time.
    assert ledger.waybills
    for number, (channel, external_id, stages) in ledger.waybills.items():
        order = Order.objects.get(channel=channel, external_id=external_id)
        events = TrackingEvent.objects.filter(tracking_number=number)
        assert events.count() == len(stages)
        assert set(events.values_list("order_id", flat=True)) == {order.pk}
        (system,) = set(events.values_list("system", flat=True))
        milestones = set(
            StatusFact.objects.filter(order=order, system=system).values_list(
                "milestone", flat=True
            )
        )
        want = {Milestone.COLLECTED} | ({Milestone.DELIVERED} if "delivered" in stages else set())
        assert milestones == want
        first_scan = events.filter(raw_substate__in=["103", "InTransit_PickedUp", "InTransit_002"])
        collected = StatusFact.objects.get(
            order=order, system=system, milestone=Milestone.COLLECTED
        )
        assert collected.occurred_at == first_scan.get().occurred_at
        assert order.tracking_number == number

    # Every planned WMS/ERP fact was received once and applied (none waiting, none refused).
    receipts = SystemFactReceipt.objects.filter(account__code__startswith=f"{PREFIX}-")
    assert set(receipts.values_list("account__code", "key")) == ledger.fact_keys
    assert receipts.count() == len(ledger.fact_keys)
    assert set(receipts.values_list("status", flat=True)) == {"done"}
    wms_facts = StatusFact.objects.filter(system__startswith=f"wms:{PREFIX}-wms-")
    assert wms_facts.count() == len([k for k in ledger.fact_keys if "-wms-" in k[0]])
    assert StatusFact.objects.filter(system=f"erp:{PREFIX}-erp").count() == len(
        [k for k in ledger.fact_keys if k[0] == f"{PREFIX}-erp"]
    )
    # A WMS reports only for its warehouse's orders: each order's WMS facts name its warehouse.
    for fact in wms_facts.select_related("order__warehouse"):
        if fact.order.warehouse is not None:
            assert fact.system == f"wms:{PREFIX}-wms-{fact.order.warehouse.code.lower()}"

    # Forged pushes (courier ones included) quarantined, one row each.
    quarantined = QuarantinedDelivery.objects.filter(account_code__startswith=f"{PREFIX}-")
    assert quarantined.count() == counts["bad_signature"]
    forged_courier = [
        r for r in ledger.sent if r.category == "bad_signature" and r.kind in COURIER_KINDS
    ]
    assert quarantined.filter(
        account_code__in=[f"{PREFIX}-{kind}" for kind in COURIER_KINDS]
    ).count() == len(forged_courier)
    assert datetime.now(UTC) - started < timedelta(seconds=120)


@pytest.mark.django_db
def test_scans_received_before_the_wms_names_the_waybill_are_attached_then() -> None:
    """A courier push for a waybill no order owns yet is kept; when the WMS reports the
    waybill through the facts API, the scans are attached and the collected fact applied."""
    WarehouseFactory.create(code="WH-SH")
    kd = channel_account_create(kind="kuaidi100", code="kd", options={}, secrets={"salt": "s"})
    channel_account_create(kind="wms", code="wms-sh", options={"warehouse": "WH-SH"}, secrets={})
    User.objects.create_user("wms-bot")
    system_reporter_add(account_code="wms-sh", username="wms-bot")
    order = OrderFactory.create(channel="shop-1", external_id="E1")
    sandbox = delivered_order()
    now = datetime.now(UTC).replace(microsecond=0)
    events = (
        CourierEvent("info_received", now - timedelta(minutes=20), "杭州市"),
        CourierEvent("collected", now - timedelta(minutes=10), "杭州市"),
    )
    account = AccountConfig("kd", "kuaidi100", {}, {"salt": "s"})
    push = encoders.wrap(account, encoders.kuaidi100_payload(sandbox, events), sent_at=now)
    answer = Client().post(
        "/hooks/kd/", push.body, content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200
    assert answer.json() == {"result": True, "returnCode": "200", "message": "成功"}
    while inbox_process_pending(limit=50):
        pass
    assert TrackingEvent.objects.filter(order__isnull=True).count() == 2

    client = APIClient()
    token, _new = Token.objects.get_or_create(user=User.objects.get(username="wms-bot"))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {
        "key": "k1", "system": "wms-sh", "order": {"id": order.pk}, "raw_status": "SHIPPED",
        "occurred_at": (now - timedelta(minutes=15)).isoformat(), "carrier": "SF",
        "tracking_number": sandbox.tracking_number,
    }  # fmt: skip
    response = client.post("/api/v1/facts/", body, format="json")
    assert response.status_code == 202
    order.refresh_from_db()
    assert order.tracking_number == ""  # stored, not applied yet
    assert system_facts_drain(limit=500, budget_seconds=10) == 1
    order.refresh_from_db()
    assert order.tracking_number == sandbox.tracking_number
    assert TrackingEvent.objects.filter(order=order).count() == 2
    assert TrackingEvent.objects.filter(order__isnull=True).count() == 0
    collected = StatusFact.objects.get(order=order, system=kd.system)
    assert (collected.milestone, collected.occurred_at) == (Milestone.COLLECTED, events[1].at)
    assert order.status == Milestone.COLLECTED


@pytest.mark.django_db
def test_setup_creates_every_account_once_and_the_summary_counts_each_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    WarehouseFactory.create(code="WH-SH")
    configs: list[engine.RunConfig] = []

    def fake_run(accounts: Any, config: engine.RunConfig, progress: Any = None) -> engine.Ledger:
        configs.append(config)
        ledger = engine.Ledger()
        for kind, category in [("webform", "normal"), ("webform", "bad_signature"),
                               ("track17", "normal"), ("wms", "stock")]:  # fmt: skip
            ledger.add(engine.Sent(kind, "x", "", category, 200, 1.0))
        return ledger

    monkeypatch.setattr(engine, "run", fake_run)
    first, second = StringIO(), StringIO()
    call_command("sandbox", "--setup", "--count", "1", "--kinds", "webform", stdout=first)
    call_command(
        "sandbox", "--setup", "--count", "1", "--kinds", "webform", "--no-faults", stdout=second
    )
    assert [line for line in first.getvalue().splitlines() if line.startswith("created")] == [
        "created account sandbox-webform: webhook path /hooks/sandbox-webform/",
        "created account sandbox-kuaidi100: webhook path /hooks/sandbox-kuaidi100/",
        "created account sandbox-track17: webhook path /hooks/sandbox-track17/",
        "created account sandbox-aftership: webhook path /hooks/sandbox-aftership/",
        "created account sandbox-wms-wh-sh: reports to /api/v1/facts/",
        "created account sandbox-erp: reports to /api/v1/facts/",
    ]
    assert "created" not in second.getvalue()
    assert second.getvalue().splitlines()[-1] == (
        "done: 4 deliveries (2 channel, 1 courier, 1 facts API), 0 errors (5xx or no answer)"
    )
    config = configs[-1]
    assert [account.kind for account in config.couriers] == list(COURIER_KINDS)
    assert config.systems is not None
    assert config.systems.wms == {"WH-SH": "sandbox-wms-wh-sh"}
    assert config.systems.token == Token.objects.get(user__username="sandbox-reporter").key
    only = StringIO()
    call_command("sandbox", "--channels-only", "--count", "1", "--kinds", "webform", stdout=only)
    assert (configs[-1].couriers, configs[-1].systems) == ((), None)
