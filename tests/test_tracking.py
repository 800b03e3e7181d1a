"""Courier tracking through the real intake: pushes verified, stored, attached to the order
that owns the waybill, turned into facts with the carrier's own times; events for an unknown
waybill wait for it; any arrival order of the same events converges."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.adapters.kuaidi100 import kuaidi100_sign
from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.services import channel_account_create
from channels_app.services.processing import inbox_process_pending
from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order, StatusFact, TrackingEvent
from orderhub.services import order_upsert

CN = timezone(timedelta(hours=8))
KD = "kuaidi100:kd100"
SALT = "salt-9f2c"
AS_SECRET = "as-secret"
ACCEPTED = '{"result":true,"returnCode":"200","message":"成功"}'

# A waybill's scans as Kuaidi100 reports them (newest first in each push) and AfterShip's.
KD_EVENTS = [
    {"ftime": "2026-11-27 18:05:12", "context": "京东快递已收取快件", "status": "揽收",
     "statusCode": "103"},
    {"ftime": "2026-11-27 22:28:50", "context": "到达西安灞桥分拣中心", "status": "干线",
     "statusCode": "1002"},
    {"ftime": "2026-11-28 08:27:50", "context": "您的快件正在派送中", "status": "派件",
     "statusCode": "5"},
    {"ftime": "2026-11-28 10:34:33", "context": "已由快递驿站代收", "status": "投柜或站签收",
     "statusCode": "304"},
]  # fmt: skip
AS_CHECKPOINTS = [
    {"checkpoint_time": "2026-11-27T18:10:00+08:00", "tag": "InTransit",
     "subtag": "InTransit_002", "message": "Picked up"},
    {"checkpoint_time": "2026-11-28T10:40:00+08:00", "tag": "Delivered",
     "subtag": "Delivered_001", "message": "Delivered"},
]  # fmt: skip


def kuaidi100_push(number: str, events: list[dict[str, str]]) -> bytes:
    data = [{**event, "time": event["ftime"]} for event in reversed(events)]
    param = json.dumps(
        {"status": "polling", "message": "", "lastResult": {"nu": number, "com": "jd",
         "state": data[0]["statusCode"], "ischeck": "0", "data": data}},
        ensure_ascii=False, separators=(",", ":"),
    )  # fmt: skip
    return urlencode({"param": param, "sign": kuaidi100_sign(param, SALT)}).encode()


def aftership_push(number: str, checkpoints: list[dict[str, str]]) -> tuple[bytes, str]:
    body = json.dumps(
        {"event": "tracking_update", "event_id": f"{number}-{len(checkpoints)}",
         "msg": {"tracking_number": number, "slug": "jd", "tag": checkpoints[-1]["tag"],
                 "checkpoints": checkpoints}},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    signature = base64.b64encode(hmac.new(AS_SECRET.encode(), body, hashlib.sha256).digest())
    return body, signature.decode()


def post_kuaidi100(client: Client, body: bytes) -> Any:
    return client.post("/hooks/kd100/", data=body, content_type="application/x-www-form-urlencoded")


def post_aftership(client: Client, body: bytes, signature: str) -> Any:
    return client.post(
        "/hooks/as-main/",
        data=body,
        content_type="application/json",
        headers={"aftership-hmac-sha256": signature},
    )


@pytest.fixture
def couriers(db: None) -> tuple[ChannelAccount, ChannelAccount]:
    return (
        channel_account_create(kind="kuaidi100", code="kd100", options={}, secrets={"salt": SALT}),
        channel_account_create(
            kind="aftership", code="as-main", options={}, secrets={"webhook_secret": AS_SECRET}
        ),
    )


def shipped_order(external_id: str, number: str) -> Order:
    """An order whose ERP printed the label: waybill issued, not yet handed over."""
    return order_upsert(
        normalized=NormalizedOrder(
            channel="shop-a",
            external_id=external_id,
            carrier="jd",
            tracking_number=number,
            facts=(
                StatusFactIn(
                    "erp:k3", "LABEL", Milestone.WAYBILL_ISSUED,
                    datetime(2026, 11, 27, 16, 0, tzinfo=CN),
                ),
            ),
        ),
        source="test",
    )  # fmt: skip


def courier_facts(order: Order) -> list[tuple[str, str, str, datetime, str]]:
    return list(
        order.facts.exclude(system="erp:k3")
        .order_by("system", "occurred_at")
        .values_list("system", "raw_status", "milestone", "occurred_at", "outcome")
    )


def test_kuaidi100_push_moves_the_order_with_the_carriers_own_times(
    client: Client, couriers: Any
) -> None:
    order = shipped_order("A1", "JD0076810060555")
    response = post_kuaidi100(client, kuaidi100_push("JD0076810060555", KD_EVENTS))
    assert (response.status_code, response.content.decode()) == (200, ACCEPTED)
    assert inbox_process_pending(limit=10) == 1

    order.refresh_from_db()
    assert order.status == Milestone.DELIVERED
    assert courier_facts(order) == [
        (KD, "in_transit", "collected", datetime(2026, 11, 27, 10, 5, 12, tzinfo=UTC),
         "skipped_ahead"),
        (KD, "delivered", "delivered", datetime(2026, 11, 28, 2, 34, 33, tzinfo=UTC),
         "advanced"),
    ]  # fmt: skip
    timeline = list(
        TrackingEvent.objects.order_by("occurred_at").values_list(
            "order_id", "stage", "raw_state", "raw_substate"
        )
    )
    assert timeline == [
        (order.pk, "in_transit", "1", "103"),
        (order.pk, "in_transit", "0", "1002"),
        (order.pk, "out_for_delivery", "5", ""),
        (order.pk, "delivered", "3", "304"),
    ]
    message = InboundMessage.objects.get()
    assert (message.status, message.order_ids) == ("processed", [order.pk])


def test_the_same_push_again_changes_nothing(client: Client, couriers: Any) -> None:
    order = shipped_order("A1", "JD0076810060555")
    body = kuaidi100_push("JD0076810060555", KD_EVENTS)
    post_kuaidi100(client, body)
    inbox_process_pending(limit=10)
    facts, events = StatusFact.objects.count(), TrackingEvent.objects.count()
    response = post_kuaidi100(client, body)
    assert (response.status_code, response.content.decode()) == (200, ACCEPTED)
    assert inbox_process_pending(limit=10) == 0
    assert (StatusFact.objects.count(), TrackingEvent.objects.count()) == (facts, events)
    assert InboundMessage.objects.get().duplicate_count == 1
    order.refresh_from_db()
    assert order.status == Milestone.DELIVERED


def test_a_forged_push_is_quarantined_and_changes_nothing(client: Client, couriers: Any) -> None:
    order = shipped_order("A1", "JD0076810060555")
    body = kuaidi100_push("JD0076810060555", KD_EVENTS).replace(b"sign=", b"sign=0")
    response = post_kuaidi100(client, body)
    assert response.status_code == 400
    assert response.content.decode() == (
        '{"result":false,"returnCode":"500","message":"签名校验失败"}'
    )
    quarantined = QuarantinedDelivery.objects.get()
    assert (quarantined.account_code, quarantined.reason) == (
        "kd100",
        "sign does not match md5(param + salt)",
    )
    assert bytes(quarantined.body) == body
    assert InboundMessage.objects.count() == 0
    assert TrackingEvent.objects.count() == 0
    order.refresh_from_db()
    assert order.status == Milestone.WAYBILL_ISSUED


def test_events_for_an_unknown_waybill_wait_and_apply_when_an_order_gets_it(
    client: Client, couriers: Any
) -> None:
    post_kuaidi100(client, kuaidi100_push("JD0099", KD_EVENTS[:2]))
    assert inbox_process_pending(limit=10) == 1
    assert list(TrackingEvent.objects.values_list("order_id", flat=True)) == [None, None]
    assert StatusFact.objects.filter(system="kuaidi100:kd100").count() == 0
    assert InboundMessage.objects.get().order_ids == []

    order = shipped_order("A9", "JD0099")
    order.refresh_from_db()
    assert order.status == Milestone.COLLECTED
    assert list(TrackingEvent.objects.values_list("order_id", flat=True)) == [order.pk, order.pk]
    assert courier_facts(order) == [
        (KD, "in_transit", "collected", datetime(2026, 11, 27, 10, 5, 12, tzinfo=UTC),
         "skipped_ahead"),
    ]  # fmt: skip


def test_an_earlier_scan_learned_later_is_recorded_and_changes_no_status(
    client: Client, couriers: Any
) -> None:
    order = shipped_order("A1", "JD0076810060555")
    post_kuaidi100(client, kuaidi100_push("JD0076810060555", KD_EVENTS[1:3]))
    inbox_process_pending(limit=10)
    post_kuaidi100(client, kuaidi100_push("JD0076810060555", KD_EVENTS))
    inbox_process_pending(limit=10)
    order.refresh_from_db()
    assert order.status == Milestone.DELIVERED
    assert courier_facts(order) == [
        (KD, "in_transit", "collected", datetime(2026, 11, 27, 10, 5, 12, tzinfo=UTC),
         "confirmed"),
        (KD, "in_transit", "collected", datetime(2026, 11, 27, 14, 28, 50, tzinfo=UTC),
         "skipped_ahead"),
        (KD, "delivered", "delivered", datetime(2026, 11, 28, 2, 34, 33, tzinfo=UTC),
         "advanced"),
    ]  # fmt: skip
    assert TrackingEvent.objects.filter(order=order).count() == 4


def test_an_order_without_that_waybill_is_left_alone(client: Client, couriers: Any) -> None:
    other = shipped_order("B1", "SF000111")
    post_kuaidi100(client, kuaidi100_push("JD0076810060555", KD_EVENTS))
    inbox_process_pending(limit=10)
    other.refresh_from_db()
    assert other.status == Milestone.WAYBILL_ISSUED
    assert courier_facts(other) == []
    assert TrackingEvent.objects.filter(order__isnull=False).count() == 0


_numbers = itertools.count(1)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(8)),
    duplicates=st.lists(st.integers(min_value=0, max_value=7), max_size=4),
    process_after=st.lists(st.booleans(), min_size=12, max_size=12),
    order_first=st.booleans(),
)
@pytest.mark.django_db
def test_any_arrival_order_of_the_same_events_converges(
    client: Client,
    couriers: Any,
    order: list[int],
    duplicates: list[int],
    process_after: list[bool],
    order_first: bool,
) -> None:
    number = f"JDP{next(_numbers):06d}"
    # Kuaidi100 pushes the growing trace, AfterShip each checkpoint as it comes.
    deliveries: list[tuple[str, bytes, str]] = [
        ("kd", kuaidi100_push(number, KD_EVENTS[: n + 1]), "") for n in range(4)
    ]
    deliveries += [("as", *aftership_push(number, AS_CHECKPOINTS[: n + 1])) for n in range(2)]
    deliveries += [("as", *aftership_push(number, AS_CHECKPOINTS[1:]))]  # only the newest
    deliveries += [("kd", kuaidi100_push(number, KD_EVENTS[1:3]), "")]  # a partial re-push
    sequence = [deliveries[i] for i in order] + [deliveries[i] for i in duplicates]
    hub_order = shipped_order(f"P-{number}", number) if order_first else None
    for step, (provider, body, signature) in enumerate(sequence):
        response = (
            post_kuaidi100(client, body)
            if provider == "kd"
            else post_aftership(client, body, signature)
        )
        assert response.status_code == 200
        if process_after[step % len(process_after)]:
            inbox_process_pending(limit=100)
    inbox_process_pending(limit=100)
    if hub_order is None:
        hub_order = shipped_order(f"P-{number}", number)
    hub_order.refresh_from_db()

    assert hub_order.status == Milestone.DELIVERED
    timeline = list(
        TrackingEvent.objects.filter(tracking_number=number)
        .order_by("occurred_at", "system")
        .values_list("order_id", "system", "occurred_at", "stage")
    )
    assert [(row[1], row[3]) for row in timeline] == [
        ("kuaidi100:kd100", "in_transit"),
        ("aftership:as-main", "in_transit"),
        ("kuaidi100:kd100", "in_transit"),
        ("kuaidi100:kd100", "out_for_delivery"),
        ("kuaidi100:kd100", "delivered"),
        ("aftership:as-main", "delivered"),
    ]
    assert {row[0] for row in timeline} == {hub_order.pk}
    # Each feed's facts: the earliest scan it reported as "collected" and its signature as
    # "delivered" (a partial trace processed first may add a later "collected" beside them).
    earliest: dict[tuple[str, str], datetime] = {}
    for system, _raw, milestone, occurred_at, _outcome in courier_facts(hub_order):
        key = (system, milestone)
        earliest[key] = min(earliest.get(key, occurred_at), occurred_at)
    assert earliest == {
        ("aftership:as-main", "collected"): datetime(2026, 11, 27, 10, 10, tzinfo=UTC),
        ("aftership:as-main", "delivered"): datetime(2026, 11, 28, 2, 40, tzinfo=UTC),
        ("kuaidi100:kd100", "collected"): datetime(2026, 11, 27, 10, 5, 12, tzinfo=UTC),
        ("kuaidi100:kd100", "delivered"): datetime(2026, 11, 28, 2, 34, 33, tzinfo=UTC),
    }
    history = list(hub_order.history.order_by("history_date").values_list("status", flat=True))
    ranks = [list(Milestone.values).index(status) for status in history]
    assert ranks == sorted(ranks)  # never backwards


def test_the_trace_shows_the_tracking_timeline(client: Client, couriers: Any) -> None:
    from traceability.selectors import order_trace

    order = shipped_order("A1", "JD0076810060555")
    post_kuaidi100(client, kuaidi100_push("JD0076810060555", KD_EVENTS[:2]))
    inbox_process_pending(limit=10)
    with translation.override("en"):
        entries = [e for e in order_trace(order=order).entries if e.kind == "tracking"]
    assert [(e.at, e.source_system, e.title, e.details[1]) for e in entries] == [
        (datetime(2026, 11, 27, 10, 5, 12, tzinfo=UTC), KD, "Tracking: In transit",
         ("provider state", "1/103")),
        (datetime(2026, 11, 27, 14, 28, 50, tzinfo=UTC), KD, "Tracking: In transit",
         ("provider state", "0/1002")),
    ]  # fmt: skip


def test_a_warehouse_user_sees_only_its_orders_tracking_events(
    client: Client, couriers: Any
) -> None:
    from django.contrib.auth.models import Permission, User

    from orderhub.models import Warehouse

    shanghai = Warehouse.objects.create(code="WH-SH", name="Shanghai")
    guangzhou = Warehouse.objects.create(code="WH-GZ", name="Guangzhou")
    mine, theirs = shipped_order("M1", "JDMINE"), shipped_order("T1", "JDTHEIRS")
    Order.objects.filter(pk=mine.pk).update(warehouse=shanghai)
    Order.objects.filter(pk=theirs.pk).update(warehouse=guangzhou)
    for number in ("JDMINE", "JDTHEIRS"):
        post_kuaidi100(client, kuaidi100_push(number, KD_EVENTS[:1]))
    inbox_process_pending(limit=10)
    user = User.objects.create_user("wh-sh", password="pw-123456", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_trackingevent"))
    shanghai.staff.add(user)
    client.force_login(user)
    listing = client.get("/admin/orderhub/trackingevent/")
    assert listing.status_code == 200
    assert b"JDMINE" in listing.content
    assert b"JDTHEIRS" not in listing.content
    theirs_event = TrackingEvent.objects.get(tracking_number="JDTHEIRS")
    detail = client.get(f"/admin/orderhub/trackingevent/{theirs_event.pk}/change/")
    assert detail.status_code == 302  # not found in the user's scope: back to the index


def test_setting_the_tracking_number_by_hand_applies_the_waiting_events(
    client: Client, couriers: Any
) -> None:
    from orderhub.services import order_tracking_set

    post_kuaidi100(client, kuaidi100_push("JDHAND1", KD_EVENTS))
    inbox_process_pending(limit=10)
    order = shipped_order("H1", "")
    assert order.status == Milestone.WAYBILL_ISSUED
    order_tracking_set(order_id=order.pk, carrier="jd", tracking_number="JDHAND1", source="test")
    order.refresh_from_db()
    assert order.status == Milestone.DELIVERED
    assert TrackingEvent.objects.filter(order=order).count() == 4
    assert [f[2] for f in courier_facts(order)] == ["collected", "delivered"]


def test_a_wms_fact_with_the_waybill_applies_the_waiting_events(
    client: Client, couriers: Any
) -> None:
    from django.contrib.auth.models import User

    from channels_app.services.system_facts import SystemFactIn, system_facts_record

    erp = channel_account_create(kind="erp", code="erp-main", options={}, secrets={})
    post_kuaidi100(client, kuaidi100_push("JDWMS1", KD_EVENTS[:1]))
    inbox_process_pending(limit=10)
    order = shipped_order("W1", "")
    boss = User.objects.create_superuser("boss", password="pw-123456")
    [result] = system_facts_record(
        account=erp,
        items=[
            SystemFactIn(
                key="k1", raw_status="SHIPPED",
                occurred_at=datetime(2026, 11, 27, 17, 0, tzinfo=CN), channel="shop-a",
                external_id="W1", carrier="jd", tracking_number="JDWMS1",
            )
        ],
        user=boss,
    )  # fmt: skip
    assert (result.status, result.body["outcome"]) == (201, "applied")
    order.refresh_from_db()
    assert (order.tracking_number, order.status) == ("JDWMS1", Milestone.COLLECTED)
    assert TrackingEvent.objects.get().order_id == order.pk
