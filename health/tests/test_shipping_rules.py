"""ghost_shipment and sync_lag end to end: facts through the intake, time passing through the
sweep with explicit ``now`` values, the carrier scan through a courier push."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from channels_app.adapters.kuaidi100 import kuaidi100_sign
from channels_app.services import channel_account_create, inbox_process_pending
from health.alerts.builtin_metrics import ghost_shipment_deadline_within
from health.alerts.metrics import Scope
from health.models import Anomaly, OrderCheck
from health.services import anomalies_sweep, rule_override_set, rule_setting_update
from health.tests.conftest import SHOP, SHOP_SYSTEM, Flow, ago
from orderhub.models import Order, StatusFact, TrackingEvent
from traceability.models import LedgerEvent

SALT = "salt-health"
CN = ZoneInfo("Asia/Shanghai")


def kuaidi100_scan(
    client: Client, number: str, at: datetime, *, code: str = "103", word: str = "揽收"
) -> None:
    """The carrier's first scan (揽收) of ``number``, pushed by Kuaidi100 (or the state
    ``code``: 401 已销单, the waybill cancelled)."""
    ftime = at.astimezone(CN).strftime("%Y-%m-%d %H:%M:%S")
    data = [{"ftime": ftime, "time": ftime, "context": "快递已收取快件", "status": word,
             "statusCode": code}]  # fmt: skip
    param = json.dumps(
        {"status": "polling", "message": "", "lastResult": {"nu": number, "com": "jd",
         "state": code, "ischeck": "0", "data": data}},
        ensure_ascii=False, separators=(",", ":"),
    )  # fmt: skip
    body = urlencode({"param": param, "sign": kuaidi100_sign(param, SALT)}).encode()
    response = client.post(
        "/hooks/kd100/", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    inbox_process_pending()


@pytest.fixture
def kd100(flow: Flow) -> None:
    channel_account_create(kind="kuaidi100", code="kd100", options={}, secrets={"salt": SALT})


def shipped(flow: Flow, order_id: str, number: str, at: datetime) -> Order:
    """Paid on the channel, packed and shipped by the WMS, mirrored by the channel."""
    flow.channel(order_id, "PAID", at - timedelta(hours=2))
    flow.wms(order_id, "PACKED", at - timedelta(minutes=30))
    flow.wms(order_id, "SHIPPED", at, carrier="jd", tracking_number=number)
    flow.channel(order_id, "SHIPPED", at + timedelta(seconds=30))
    return Order.objects.get(external_id=order_id)


@pytest.mark.django_db
def test_ghost_shipment_opens_two_hours_before_the_platform_deadline_and_the_scan_resolves_it(
    flow: Flow, kd100: None
) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "G1", "JD100", ship_at)
    deadline = ship_at + timedelta(hours=24)
    opens = deadline - timedelta(hours=2)  # lead_hours: time to act before the penalty
    assert Anomaly.objects.count() == 0
    assert OrderCheck.objects.get(order=order).next_check_at == opens
    within_2h = Scope(window=timedelta(hours=2))

    assert anomalies_sweep(now=opens - timedelta(seconds=1)) == 0
    assert Anomaly.objects.count() == 0
    assert ghost_shipment_deadline_within(opens, within_2h) == []
    assert anomalies_sweep(now=opens) == 1
    anomaly = Anomaly.objects.get()
    fact = StatusFact.objects.get(raw_status="SHIPPED", system="wms:wms-sh")
    assert (anomaly.kind, anomaly.deadline, anomaly.evidence_at) == (
        "ghost_shipment", deadline, opens,
    )  # fmt: skip
    # The alert on "a ghost_shipment deadline within 2 hours" counts it from the first moment.
    [value] = ghost_shipment_deadline_within(opens, within_2h)
    assert (value.subject_key, value.value) == ("warehouse:-", 1)  # no warehouse assigned
    assert anomaly.evidence == {
        "ship_fact": {"fact_id": fact.pk, "system": "wms:wms-sh", "raw_status": "SHIPPED",
                      "milestone": "handed_over", "outcome": "skipped_ahead",
                      "occurred_at": ship_at.isoformat()},
        "carrier": "jd",
        "tracking_number": "JD100",
        "carrier_scans": [],
        "systems": {
            SHOP_SYSTEM: {"raw_status": "SHIPPED", "milestone": "handed_over"},
            "wms:wms-sh": {"raw_status": "SHIPPED", "milestone": "handed_over"},
        },
    }  # fmt: skip
    # Nothing is due any more: an open ghost shipment waits for the scan.
    assert not OrderCheck.objects.filter(order=order).exists()
    assert anomalies_sweep(now=deadline + timedelta(hours=1)) == 0

    kuaidi100_scan(Client(), "JD100", ago(1))
    anomaly.refresh_from_db()
    assert Order.objects.get(pk=order.pk).status == "collected"
    assert (anomaly.resolution, anomaly.resolved_at is not None) == ("auto", True)
    assert list(
        LedgerEvent.objects.filter(action__startswith="anomaly.", subject_id=str(anomaly.pk))
        .order_by("id")
        .values_list("action", "order_id")
    ) == [("anomaly.opened", order.pk), ("anomaly.resolved", order.pk)]
    # A scan an hour after the ship time: the clocks (or the stories) disagree as well.
    assert list(
        Anomaly.objects.filter(resolved_at__isnull=True).values_list("kind", flat=True)
    ) == ["clock_mismatch"]


@pytest.mark.django_db
def test_a_scan_before_the_deadline_opens_nothing(flow: Flow, kd100: None) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "G2", "JD200", ship_at)
    scan_at = ship_at + timedelta(minutes=2)
    kuaidi100_scan(Client(), "JD200", scan_at)
    assert Order.objects.get(pk=order.pk).status == "collected"
    # Past the ghost deadline nothing is due: the next check is tracking_stalled's.
    assert anomalies_sweep(now=ship_at + timedelta(hours=25)) == 0
    assert Anomaly.objects.count() == 0
    assert OrderCheck.objects.get(order=order).next_check_at == scan_at + timedelta(hours=48)


@pytest.mark.django_db
def test_tracking_stalled_opens_after_48_hours_without_events(flow: Flow, kd100: None) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "T1", "JD500", ship_at)
    scan_at = ship_at + timedelta(minutes=2)
    kuaidi100_scan(Client(), "JD500", scan_at)
    stalled_at = scan_at + timedelta(hours=48)
    assert anomalies_sweep(now=stalled_at - timedelta(seconds=1)) == 0
    assert anomalies_sweep(now=stalled_at) == 1
    anomaly = Anomaly.objects.get()
    assert (anomaly.kind, anomaly.order_id, anomaly.evidence_at) == (
        "tracking_stalled", order.pk, stalled_at,
    )  # fmt: skip
    assert anomaly.evidence == {
        "last_event_at": scan_at.isoformat(), "tracking_number": "JD500", "hours": 48.0,
    }  # fmt: skip
    # While open it is looked at again every 30 minutes (events bring no fact to wake it).
    assert OrderCheck.objects.get(order=order).next_check_at == stalled_at + timedelta(minutes=30)


@pytest.mark.django_db
def test_the_channels_deadline_override_moves_the_deadline(flow: Flow) -> None:
    ops = User.objects.create_user("ops")
    rule_override_set(kind="ghost_shipment", channel=SHOP, params={"hours": 48}, user=ops)
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "G3", "JD300", ship_at)
    assert OrderCheck.objects.get(order=order).next_check_at == ship_at + timedelta(hours=46)
    assert anomalies_sweep(now=ship_at + timedelta(hours=24, seconds=1)) == 0
    event = LedgerEvent.objects.get(action="health.rule_override_set")
    assert (event.actor, event.subject_id, event.after) == (
        "ops", f"ghost_shipment@{SHOP}", {"params": {"hours": 48}},
    )  # fmt: skip


@pytest.mark.django_db
def test_the_sweep_takes_only_due_rows_oldest_first(flow: Flow) -> None:
    early = ago(120).replace(microsecond=0)
    late = ago(60).replace(microsecond=0)
    first = shipped(flow, "S1", "JD401", early)
    second = shipped(flow, "S2", "JD402", late)
    at = early + timedelta(hours=22, minutes=1)
    assert anomalies_sweep(now=at, limit=10) == 1
    assert list(Anomaly.objects.values_list("order_id", "kind")) == [(first.pk, "ghost_shipment")]
    assert OrderCheck.objects.get(order=second).next_check_at == late + timedelta(hours=22)
    assert anomalies_sweep(now=at + timedelta(hours=2), limit=1) == 1
    assert Anomaly.objects.count() == 2


def wms_shipped_unmirrored(flow: Flow, order_id: str) -> StatusFact:
    flow.channel(order_id, "PAID", ago(30))
    flow.wms(order_id, "SHIPPED", ago(2), carrier="jd", tracking_number=f"JD-{order_id}")
    return StatusFact.objects.get(system="wms:wms-sh", raw_status="SHIPPED")


@pytest.mark.django_db
def test_sync_lag_opens_after_90_seconds_unmirrored_and_the_channel_resolves_it(
    flow: Flow,
) -> None:
    fact = wms_shipped_unmirrored(flow, "L1")
    order = fact.order
    due = fact.received_at + timedelta(seconds=90)
    assert OrderCheck.objects.get(order=order).next_check_at == due
    assert anomalies_sweep(now=due - timedelta(seconds=1)) == 0
    assert anomalies_sweep(now=due) == 1
    anomaly = Anomaly.objects.get()
    assert (anomaly.kind, anomaly.evidence_at) == ("sync_lag", due)
    assert anomaly.evidence == {
        "milestone": "handed_over",
        "known_by": {"fact_id": fact.pk, "system": "wms:wms-sh", "raw_status": "SHIPPED",
                     "milestone": "handed_over", "outcome": "skipped_ahead",
                     "occurred_at": fact.occurred_at.isoformat()},
        "missing_in": f"channel:{SHOP}",
        "seconds": 90.0,
        "systems": {
            SHOP_SYSTEM: {"raw_status": "PAID", "milestone": "paid"},
            "wms:wms-sh": {"raw_status": "SHIPPED", "milestone": "handed_over"},
        },
    }  # fmt: skip
    flow.channel("L1", "SHIPPED", ago(0))
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"


@pytest.mark.django_db
def test_a_threshold_edit_changes_the_next_evaluation_and_is_in_the_ledger(flow: Flow) -> None:
    fact = wms_shipped_unmirrored(flow, "L2")
    ops = User.objects.create_user("ops")
    rule_setting_update(kind="sync_lag", params={"seconds": 600}, user=ops)
    assert anomalies_sweep(now=fact.received_at + timedelta(seconds=91)) == 1
    assert Anomaly.objects.count() == 0
    assert OrderCheck.objects.get(order=fact.order).next_check_at == (
        fact.received_at + timedelta(seconds=600)
    )
    event = LedgerEvent.objects.get(action="health.rule_setting_updated")
    assert (event.actor, event.subject_id) == ("ops", "sync_lag")
    assert event.after == {"enabled": True, "params": {"seconds": 600}}
    # Switched off, the rule finds nothing even past the longer threshold.
    rule_setting_update(kind="sync_lag", enabled=False, user=ops)
    assert anomalies_sweep(now=fact.received_at + timedelta(seconds=601)) == 1
    assert Anomaly.objects.count() == 0


@pytest.mark.django_db
def test_clock_mismatch_opens_when_the_scan_is_far_from_the_ship_time(
    flow: Flow, kd100: None
) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "M1", "JD600", ship_at)
    scan_at = ship_at + timedelta(minutes=20)
    kuaidi100_scan(Client(), "JD600", scan_at)
    anomaly = Anomaly.objects.get()
    fact = StatusFact.objects.get(raw_status="SHIPPED", system="wms:wms-sh")
    assert (anomaly.kind, anomaly.order_id, anomaly.evidence_at) == (
        "clock_mismatch", order.pk, scan_at,
    )  # fmt: skip
    assert anomaly.evidence == {
        "ship_fact": {"fact_id": fact.pk, "system": "wms:wms-sh", "raw_status": "SHIPPED",
                      "milestone": "handed_over", "outcome": "skipped_ahead",
                      "occurred_at": ship_at.isoformat()},
        "first_scan_at": scan_at.isoformat(),
        "difference_seconds": 1200.0,
        "max_seconds": 180.0,
    }  # fmt: skip


@pytest.mark.django_db
def test_clock_mismatch_resolves_when_the_wms_sends_a_corrected_ship_time(
    flow: Flow, kd100: None
) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "C1", "JD500", ship_at)
    kuaidi100_scan(Client(), "JD500", ship_at + timedelta(minutes=10))
    anomaly = Anomaly.objects.get(resolved_at__isnull=True)
    wrong = StatusFact.objects.get(system="wms:wms-sh", raw_status="SHIPPED")
    assert (anomaly.kind, anomaly.order_id) == ("clock_mismatch", order.pk)
    assert anomaly.evidence == {
        "ship_fact": {"fact_id": wrong.pk, "system": "wms:wms-sh", "raw_status": "SHIPPED",
                      "milestone": "handed_over", "outcome": "skipped_ahead",
                      "occurred_at": ship_at.isoformat()},
        "first_scan_at": (ship_at + timedelta(minutes=10)).isoformat(),
        "difference_seconds": 600.0,
        "max_seconds": 180.0,
    }  # fmt: skip

    # The WMS's clock is put right and it sends the ship time again: 1 minute before the scan.
    flow.wms("C1", "SHIPPED", ship_at + timedelta(minutes=9), carrier="jd", tracking_number="JD500")
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_at is not None) == ("auto", True)
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0
    assert StatusFact.objects.filter(system="wms:wms-sh", raw_status="SHIPPED").count() == 2


@pytest.mark.django_db
def test_a_scan_within_three_minutes_of_the_ship_time_opens_nothing(
    flow: Flow, kd100: None
) -> None:
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, "C2", "JD501", ship_at)
    kuaidi100_scan(Client(), "JD501", ship_at + timedelta(minutes=2))
    assert Order.objects.get(pk=order.pk).status == "collected"
    assert Anomaly.objects.count() == 0
    assert LedgerEvent.objects.filter(action__startswith="anomaly.").count() == 0


def two_waybills(flow: Flow, order_id: str, first: str, second: str) -> Order:
    """Shipped under ``first``, labelled again and shipped under ``second``; both scanned."""
    ship_at = ago(60).replace(microsecond=0)
    order = shipped(flow, order_id, first, ship_at)
    kuaidi100_scan(Client(), first, ship_at + timedelta(minutes=1))
    flow.wms(order_id, "SHIPPED", ship_at + timedelta(minutes=2), carrier="jd",
             tracking_number=second)  # fmt: skip
    kuaidi100_scan(Client(), second, ship_at + timedelta(minutes=3))
    return Order.objects.get(pk=order.pk)


@pytest.mark.django_db
def test_duplicate_shipment_resolves_when_the_courier_voids_one_waybill(
    flow: Flow, kd100: None
) -> None:
    order = two_waybills(flow, "D1", "JD600", "JD601")
    anomaly = Anomaly.objects.get(resolved_at__isnull=True)
    assert (anomaly.kind, anomaly.evidence["tracking_numbers"]) == (
        "duplicate_shipment", ["JD600", "JD601"],
    )  # fmt: skip
    # A void brings no fact: the open anomaly is looked at again every 10 minutes.
    check = OrderCheck.objects.get(order=order).next_check_at
    assert timedelta(minutes=9) < check - timezone.now() <= timedelta(minutes=10)
    assert anomalies_sweep(now=check) == 1
    anomaly.refresh_from_db()
    assert anomaly.resolved_at is None  # both waybills still stand

    # Kuaidi100 reports the second label cancelled (401 已销单, under base state 4 退签).
    kuaidi100_scan(Client(), "JD601", ago(0), code="401", word="退签")
    voided = TrackingEvent.objects.get(tracking_number="JD601", raw_substate="401")
    assert (voided.stage, voided.milestone, voided.order_id) == ("returned", "", order.pk)
    # The voided label returns nothing: the order stays collected, no "returned" fact.
    assert Order.objects.get(pk=order.pk).status == "collected"
    assert not StatusFact.objects.filter(order=order, milestone="returned").exists()
    check = OrderCheck.objects.get(order=order).next_check_at
    assert anomalies_sweep(now=check) == 1
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_at is not None) == ("auto", True)
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_one_waybill_scanned_twice_opens_no_duplicate_shipment(flow: Flow, kd100: None) -> None:
    ship_at = ago(60).replace(microsecond=0)
    shipped(flow, "D2", "JD602", ship_at)
    kuaidi100_scan(Client(), "JD602", ship_at + timedelta(minutes=1))
    kuaidi100_scan(Client(), "JD602", ship_at + timedelta(minutes=2), code="1002", word="在途")
    assert TrackingEvent.objects.filter(tracking_number="JD602").count() == 2
    assert Anomaly.objects.count() == 0
