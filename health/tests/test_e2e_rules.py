"""Every rule end to end: the sandbox injects the fault, its deliveries reach OrderHub through
the real interfaces of a live server (signed webhooks, courier pushes, the facts and stock
APIs, a Pinduoduo poll), and the anomaly opens with its exact evidence; where new evidence
closes the gap, that evidence arrives the same way and the anomaly resolves (``auto``). The
negative twin: a healthy flow through the same interfaces opens nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from channels_app.adapters.common import CHINA_TZ
from channels_app.pull.services import account_poll
from channels_app.sandbox import encoders, engine, faults
from channels_app.sandbox.accounts import (
    sandbox_account,
    sandbox_accounts_setup,
    sandbox_systems,
    sandbox_systems_setup,
)
from channels_app.sandbox.generator import (
    CATALOGUE,
    COURIER_KINDS,
    FULFILLED_KINDS,
    CourierEvent,
    courier_kind_of,
    warehouse_assortments,
    warehouse_of,
)
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import pinduoduo_account
from channels_app.services import inbox_process_pending
from channels_app.services.mapping import status_mapping_save
from channels_app.services.system_facts import system_facts_apply_received
from health.models import Anomaly, OrderCheck
from health.services import anomalies_sweep
from orderhub.models import Order, Product, StatusFact, StockShortage, TrackingEvent, Warehouse
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db(transaction=True)

PREFIX = "e2e"
# Valid WCO subheadings for the sandbox's catalogue (the merchant's product master data).
HS_CODES = {
    "TEA-LJ-250": "090210", "TEA-PE-357": "090230", "MUG-CER-01": "691110",
    "CUP-GLS-02": "701337", "SILK-SCF-1": "621410", "FAN-BMB-01": "460290",
    "PEN-BRS-05": "960330", "BAG-CAN-03": "420292", "LAMP-LED-9": "940521",
    "CASE-PH-14": "392690", faults.SOLD_OUT_SKU: "090230",
}  # fmt: skip


@dataclass
class Played:
    story: faults.Story
    order: Order
    ledger: engine.Ledger


class Sandbox:
    """The sandbox's accounts against a live OrderHub."""

    def __init__(self, url: str) -> None:
        self.url = url
        systems = sandbox_systems(prefix=PREFIX)
        assert systems is not None
        self.systems = systems
        self.couriers = tuple(sandbox_account(kind, prefix=PREFIX) for kind in COURIER_KINDS)

    def config(self, **values: Any) -> engine.RunConfig:
        base: dict[str, Any] = dict(
            url=self.url, rate=0, count=0, duplicates=0, bad_signatures=0, hostile=0,
            threads=1, couriers=self.couriers, systems=self.systems,
        )  # fmt: skip
        return engine.RunConfig(**(base | values))

    def play(self, fault: str, *, kind: str = "webform", seed: int = 11) -> Played:
        """One order with ``fault`` injected, its deliveries sent one by one and each
        processed before the next (as a running worker does within a second)."""
        config = self.config(seed=seed, run=seed, faults={fault: 1.0}, only_faults=True, orders=1)
        ledger = engine.Ledger()
        engine.stock_report(config, ledger)
        for job in engine.plan_jobs([sandbox_account(kind, prefix=PREFIX)], config, ledger):
            for kind_sent, code, external_id, category, request in job:
                status, elapsed = engine.send(self.url, request)
                ledger.add(engine.Sent(kind_sent, code, external_id, category, status, elapsed))
            settle()
        assert [r for r in ledger.sent if not 200 <= r.status < 300] == []
        [story] = ledger.stories
        assert story.fault == fault
        order = Order.objects.get(channel=f"{PREFIX}-{kind}", external_id=story.order.external_id)
        return Played(story, order, ledger)

    def courier_push(self, played: Played, events: tuple[CourierEvent, ...]) -> None:
        """The order's courier pushes ``events`` (its whole trace so far)."""
        order = played.story.order
        kind = courier_kind_of(order)
        account = sandbox_account(kind, prefix=PREFIX)
        payload = encoders.COURIER_PAYLOADS[kind](order, events)
        self.send(encoders.wrap(account, payload, sent_at=datetime.now(UTC)))

    def channel_step(self, played: Played, step: str) -> None:
        """The channel's push of ``step`` of the order's untouched story."""
        original = played.story.original
        assert original is not None
        account = sandbox_account(original.kind, prefix=PREFIX)
        payload = encoders.PAYLOADS[original.kind](original, original.steps.index(step))
        self.send(encoders.wrap(account, payload, sent_at=datetime.now(UTC)))

    def wms_code(self, played: Played) -> str:
        assortments = warehouse_assortments(list(self.systems.wms))
        return self.systems.wms[warehouse_of(played.story.order, assortments)]

    def wms_fact(self, played: Played, raw_status: str, at: datetime) -> None:
        """The order's WMS reports ``raw_status`` through the facts API."""
        order = played.story.order
        code = self.wms_code(played)
        fact = faults.SystemFact("wms", raw_status, at, False)
        body = encoders.system_fact_body(code, f"{PREFIX}-{order.kind}", order, fact)
        self.send(encoders.api_request(engine.FACTS_PATH, self.systems.token, body))

    def send(self, request: encoders.Request) -> None:
        response = requests.post(
            self.url + request.path, params=request.query or None, data=request.body,
            headers=request.headers, timeout=30,
        )  # fmt: skip
        assert 200 <= response.status_code < 300, response.content
        settle()


def settle() -> None:
    """What a running worker does within a second: the inbox, and the facts the facts API
    stored (applied by ``channels.facts_apply``)."""
    while inbox_process_pending(limit=200) or system_facts_apply_received():
        pass


@pytest.fixture
def sandbox(live_server: Any) -> Sandbox:
    for code in ("WH-A", "WH-B"):
        Warehouse.objects.create(code=code, name=code)
    sandbox_accounts_setup(kinds=FULFILLED_KINDS + COURIER_KINDS, prefix=PREFIX)
    sandbox_systems_setup(prefix=PREFIX)
    for sku, title, _price in CATALOGUE:
        Product.objects.create(sku=sku, name=title, category="gifts", hs_code=HS_CODES[sku])
    Product.objects.create(
        sku=faults.SOLD_OUT_SKU, name=faults.SOLD_OUT_TITLE, hs_code=HS_CODES[faults.SOLD_OUT_SKU]
    )
    Product.objects.create(
        sku=faults.BAD_HS_SKU, name=faults.BAD_HS_TITLE, category="gifts",
        hs_code=faults.BAD_HS_CODE,
    )  # fmt: skip
    return Sandbox(live_server.url)


# --- what the evidence must say, read from the stored facts ---------------------------------


def brief(fact: StatusFact) -> dict[str, Any]:
    return {
        "fact_id": fact.pk, "system": fact.system, "raw_status": fact.raw_status,
        "milestone": fact.milestone or "", "outcome": fact.outcome,
        "occurred_at": fact.occurred_at.isoformat(),
    }  # fmt: skip


def facts_of(order: Order, until: datetime | None = None) -> list[StatusFact]:
    """The order's facts (those received by ``until``: what the engine saw then)."""
    facts = StatusFact.objects.filter(order=order).order_by("occurred_at", "id")
    if until is not None:
        facts = facts.filter(received_at__lte=until)
    return list(facts)


def snapshot(order: Order, until: datetime | None = None) -> dict[str, dict[str, str]]:
    """Each system's latest word (by the sources' clocks), as the evidence records it."""
    latest = {fact.system: fact for fact in facts_of(order, until)}
    return {
        system: {"raw_status": fact.raw_status, "milestone": fact.milestone or ""}
        for system, fact in sorted(latest.items())
    }


def the_anomaly(order: Order, kind: str) -> Anomaly:
    """The open anomaly of ``kind`` about ``order`` (the only one open), its opening in the
    ledger. Another kind may have opened and resolved on the way (deliveries come in any
    order: a ship fact before its scan is a ghost shipment for a moment)."""
    assert list(Anomaly.objects.filter(resolved_at=None).values_list("kind", flat=True)) == [kind]
    assert set(Anomaly.objects.exclude(resolved_at=None).values_list("resolution", flat=True)) <= {
        "auto"
    }
    anomaly = Anomaly.objects.get(kind=kind)
    assert (anomaly.kind, anomaly.order_id, anomaly.subject_key, anomaly.resolved_at) == (
        kind, order.pk, f"order:{order.pk}", None,
    )  # fmt: skip
    opened = LedgerEvent.objects.get(action="anomaly.opened", subject_id=str(anomaly.pk))
    assert (opened.order_id, opened.after["kind"]) == (order.pk, kind)
    assert opened.after["evidence_at"] == anomaly.evidence_at.isoformat()
    return anomaly


def assert_resolved_auto(anomaly: Anomaly) -> None:
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_at is not None) == ("auto", True)
    resolved = LedgerEvent.objects.get(action="anomaly.resolved", subject_id=str(anomaly.pk))
    assert resolved.after["resolution"] == "auto"
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0


def wms_system(sandbox: Sandbox, played: Played) -> str:
    """The WMS that reports for the order (the warehouse stocking its lines)."""
    return f"wms:{sandbox.wms_code(played)}"


# --- one test per rule --------------------------------------------------------------------


def test_missing_scan_opens_ghost_shipment_and_the_late_scan_resolves_it(
    sandbox: Sandbox,
) -> None:
    played = sandbox.play("missing_scan", kind="douyin")
    order = Order.objects.get(pk=played.order.pk)
    wms = wms_system(sandbox, played)
    assert TrackingEvent.objects.filter(order=order).count() == 0
    anomaly = the_anomaly(order, "ghost_shipment")
    # The first handover anyone reported, of those received when the engine looked.
    seen = facts_of(order, anomaly.opened_at)
    ship = next(fact for fact in seen if fact.milestone == "handed_over")
    assert ship.system in (wms, f"erp:{PREFIX}-erp", f"douyin:{PREFIX}-douyin")
    deadline = ship.occurred_at + timedelta(hours=24)
    assert deadline < timezone.now()  # handed over 25-30 h ago
    # Opened 2 hours before the fake-shipping deadline (lead_hours), with time to act.
    assert (anomaly.evidence_at, anomaly.deadline) == (deadline - timedelta(hours=2), deadline)
    assert anomaly.evidence == {
        "ship_fact": brief(ship),
        # The carrier as the order named it then (the channel says shunfeng, the WMS SF).
        "carrier": order.history.as_of(anomaly.opened_at).carrier,
        "tracking_number": played.story.order.tracking_number,
        "carrier_scans": [],
        "systems": snapshot(order, anomaly.opened_at),
    }
    assert {f"douyin:{PREFIX}-douyin", wms, f"erp:{PREFIX}-erp"} == set(snapshot(order))
    assert anomaly.evidence["carrier"] in ("SF", "shunfeng")

    # The carrier finally scans the parcel: the gap is closed (and the scan, a day after the
    # ship time, now disagrees with it: clock_mismatch, the next gap).
    now = datetime.now(CHINA_TZ).replace(microsecond=0)
    sandbox.courier_push(
        played,
        (
            CourierEvent("info_received", now - timedelta(minutes=3), "杭州市"),
            CourierEvent("collected", now - timedelta(minutes=2), "杭州市"),
        ),
    )
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"
    assert list(
        Anomaly.objects.filter(resolved_at__isnull=True).values_list("kind", flat=True)
    ) == ["clock_mismatch"]


def test_late_scan_opens_tracking_stalled_and_the_next_scan_resolves_it(
    sandbox: Sandbox,
) -> None:
    played = sandbox.play("late_scan")
    order = Order.objects.get(pk=played.order.pk)
    assert order.status == "collected"
    scan = played.story.events[-1].at
    assert (played.story.events[-1].stage, len(played.story.events)) == ("collected", 2)
    anomaly = the_anomaly(order, "tracking_stalled")
    assert anomaly.evidence_at == scan + timedelta(hours=48)
    assert anomaly.evidence == {
        "last_event_at": scan.astimezone(UTC).isoformat(),
        "tracking_number": played.story.order.tracking_number,
        "hours": 48.0,
    }

    # The next scan arrives (the parcel moves again): the rule sees a recent event.
    now = datetime.now(CHINA_TZ).replace(microsecond=0)
    sandbox.courier_push(
        played,
        (*played.story.events, CourierEvent("in_transit", now - timedelta(minutes=1), "上海市")),
    )
    # Tracking events bring no fact to wake the engine: the open anomaly's recheck (every
    # 30 minutes, beat's sweep) sees the new event.
    check = OrderCheck.objects.get(order=order).next_check_at
    assert timedelta(minutes=29) < check - timezone.now() <= timedelta(minutes=30)
    assert anomalies_sweep(now=check) == 1
    assert_resolved_auto(anomaly)


def test_clock_drift_opens_clock_mismatch(sandbox: Sandbox) -> None:
    played = sandbox.play("clock_drift")
    order = Order.objects.get(pk=played.order.pk)
    erp_ship = StatusFact.objects.get(order=order, system=f"erp:{PREFIX}-erp", raw_status="SHIPPED")
    wms_ship = StatusFact.objects.get(
        order=order, system=wms_system(sandbox, played), raw_status="SHIPPED"
    )
    scan = next(event.at for event in played.story.events if event.stage == "collected")
    assert erp_ship.occurred_at < wms_ship.occurred_at  # the ERP's clock is slow
    assert abs((scan - wms_ship.occurred_at).total_seconds()) <= 180  # the WMS agrees
    anomaly = the_anomaly(order, "clock_mismatch")
    assert anomaly.evidence_at == scan
    difference = (scan - erp_ship.occurred_at).total_seconds()
    assert 6 * 60 < difference <= 15 * 60 + 100
    assert anomaly.evidence == {
        "ship_fact": brief(erp_ship),
        "first_scan_at": scan.astimezone(UTC).isoformat(),
        "difference_seconds": difference,
        "max_seconds": 180.0,
    }


def test_unmirrored_shipment_opens_sync_lag_after_90_s_and_the_channel_resolves_it(
    sandbox: Sandbox,
) -> None:
    played = sandbox.play("unmirrored_shipment", kind="youzan")
    order = Order.objects.get(pk=played.order.pk)
    ship = StatusFact.objects.get(
        order=order, system=wms_system(sandbox, played), raw_status="SHIPPED"
    )
    due = ship.received_at + timedelta(seconds=90)
    assert Anomaly.objects.count() == 0
    assert OrderCheck.objects.get(order=order).next_check_at == due
    anomalies_sweep(now=due - timedelta(seconds=1))
    assert Anomaly.objects.count() == 0
    assert anomalies_sweep(now=due) == 1
    anomaly = the_anomaly(order, "sync_lag")
    assert anomaly.evidence_at == due
    assert anomaly.evidence == {
        "milestone": "handed_over",
        "known_by": brief(ship),
        "missing_in": f"channel:{PREFIX}-youzan",
        "seconds": 90.0,
        "systems": snapshot(order, anomaly.opened_at),
    }
    assert anomaly.evidence["systems"][f"youzan:{PREFIX}-youzan"]["milestone"] == "paid"

    # The channel's lost push arrives after all.
    sandbox.channel_step(played, "shipped")
    assert_resolved_auto(anomaly)


def test_cancel_during_picking_opens_status_conflict_and_the_intercept_resolves_it(
    sandbox: Sandbox,
) -> None:
    played = sandbox.play("cancel_during_picking")
    order = Order.objects.get(pk=played.order.pk)
    assert order.status == "cancelled"
    wms = wms_system(sandbox, played)
    cancel = StatusFact.objects.get(order=order, system=f"webform:{PREFIX}-webform",
                                    milestone="cancelled")  # fmt: skip
    picked = StatusFact.objects.get(order=order, system=wms, raw_status="PICKED")
    anomaly = the_anomaly(order, "status_conflict")
    assert anomaly.evidence_at == cancel.occurred_at
    # The picking WMS and the cancel, and any system whose latest word conflicts.
    latest = {fact.system: fact for fact in facts_of(order, anomaly.opened_at)}
    conflicting = {fact.pk: fact for fact in latest.values() if fact.outcome == "conflict"}
    conflicting |= {picked.pk: picked, cancel.pk: cancel}
    expected = sorted(conflicting.values(), key=lambda fact: (fact.occurred_at, fact.pk))
    assert anomaly.evidence == {
        "order_status": "cancelled",
        "facts": [brief(fact) for fact in expected],
        "systems": snapshot(order, anomaly.opened_at),
    }

    # The warehouse intercepts the parcel, the ERP closes the order: the stories agree.
    at = datetime.now(UTC).replace(microsecond=0)
    sandbox.wms_fact(played, "CANCELLED", at)
    body = encoders.system_fact_body(
        sandbox.systems.erp, f"{PREFIX}-webform", played.story.order,
        faults.SystemFact("erp", "CANCELLED", at, False),
    )  # fmt: skip
    sandbox.send(encoders.api_request(engine.FACTS_PATH, sandbox.systems.token, body))
    assert_resolved_auto(anomaly)


def test_second_waybill_opens_duplicate_shipment(sandbox: Sandbox) -> None:
    played = sandbox.play("second_waybill")
    order = Order.objects.get(pk=played.order.pk)
    first, second = played.story.order.tracking_number, played.story.late_waybill
    assert order.tracking_number == second  # the second label was the last word
    assert set(
        TrackingEvent.objects.filter(order=order).values_list("tracking_number", flat=True)
    ) == {first, second}
    wms = wms_system(sandbox, played)
    anomaly = the_anomaly(order, "duplicate_shipment")
    assert anomaly.evidence_at == played.story.late_events[0].at
    working = [fact for fact in facts_of(order, anomaly.opened_at) if fact.system == wms]
    assert [fact.raw_status for fact in working] == [
        "ACCEPTED", "PICKED", "PACKED", "LABELED", "SHIPPED", "LABELED", "SHIPPED",
    ]  # fmt: skip
    assert anomaly.evidence == {
        "warehouse_systems": [wms],
        "tracking_numbers": sorted([first, second]),
        "facts": [brief(fact) for fact in working],
        "systems": snapshot(order, anomaly.opened_at),
    }


def test_unknown_status_opens_unmapped_status(sandbox: Sandbox) -> None:
    played = sandbox.play("unknown_status")
    order = Order.objects.get(pk=played.order.pk)
    hold = StatusFact.objects.get(order=order, raw_status=faults.UNKNOWN_WMS_STATUS)
    assert (hold.system, hold.milestone or "", hold.outcome) == (
        wms_system(sandbox, played), "", "unmapped",
    )  # fmt: skip
    anomaly = the_anomaly(order, "unmapped_status")
    assert anomaly.evidence_at == hold.occurred_at
    assert anomaly.evidence == {
        "facts": [brief(hold)],
        "systems": snapshot(order, anomaly.opened_at),
    }

    # A business user maps the word (the admin's service): the waiting fact is applied again
    # and the gap is closed.
    _mapping, applied = status_mapping_save(
        kind="wms", raw_status=faults.UNKNOWN_WMS_STATUS, milestone="warehouse_accepted",
        source="admin", reason="QC hold: still in the warehouse",
    )  # fmt: skip
    assert applied == 1
    hold.refresh_from_db()
    assert hold.milestone == "warehouse_accepted"
    assert_resolved_auto(anomaly)


def test_bad_hs_code_opens_customs_hs_code(sandbox: Sandbox) -> None:
    played = sandbox.play("bad_hs_code")
    order = Order.objects.get(pk=played.order.pk)
    assert (order.order_type, order.country) == ("cross_border", "US")
    anomaly = the_anomaly(order, "customs_hs_code")
    gift = order.lines.get(sku=faults.BAD_HS_SKU)
    # When the order's story began, by what the engine had seen when it looked.
    assert anomaly.evidence_at == facts_of(order, anomaly.opened_at)[0].occurred_at
    assert anomaly.evidence == {
        "lines": [
            {"line_no": gift.line_no, "sku": faults.BAD_HS_SKU, "hs_code": faults.BAD_HS_CODE,
             "category": "gifts", "reason": "not a WCO subheading"},
        ]
    }  # fmt: skip

    # The code is master data: no fact arrives when it changes. The open anomaly is checked
    # again every 10 minutes; unfixed, it stays open and is checked again later.
    check = OrderCheck.objects.get(order=order).next_check_at
    assert timedelta(minutes=9) < check - timezone.now() <= timedelta(minutes=10)
    assert anomalies_sweep(now=check) == 1
    anomaly.refresh_from_db()
    assert anomaly.resolved_at is None
    later = OrderCheck.objects.get(order=order).next_check_at
    assert later > check
    # The merchant fixes the product's HS code (a tea set: chapter 69, ceramic tableware).
    Product.objects.filter(sku=faults.BAD_HS_SKU).update(hs_code="691110")
    assert anomalies_sweep(now=later) == 1
    assert_resolved_auto(anomaly)


def test_stock_shortage_opens_from_the_reservation_of_a_real_worker(
    sandbox: Sandbox, celery_worker_process: Any
) -> None:
    played = sandbox.play("stock_shortage")
    order = Order.objects.get(pk=played.order.pk)
    deadline = time.monotonic() + 60
    while not StockShortage.objects.filter(order=order).exists():
        assert time.monotonic() < deadline, "the reservation task never ran"
        time.sleep(0.2)
    shortage = StockShortage.objects.get(order=order)
    [line] = played.story.order.lines
    assert (shortage.sku, shortage.missing, shortage.warehouse.code) == (
        faults.SOLD_OUT_SKU, line.quantity, "WH-A",
    )  # fmt: skip
    # A paid order is looked at again within 15 s (beat's sweep), unless a fact arriving
    # after the reservation (the placed push, say) already made the engine look.
    anomalies_sweep(now=timezone.now() + timedelta(seconds=15))
    anomaly = the_anomaly(order, "stock_shortage")
    assert anomaly.evidence_at == shortage.opened_at
    assert anomaly.evidence == {
        "shortages": [{"sku": faults.SOLD_OUT_SKU, "warehouse": "WH-A", "missing": line.quantity}]
    }


def test_late_wms_opens_sla_at_risk_from_a_pinduoduo_poll_and_the_handover_resolves_it(
    sandbox: Sandbox,
) -> None:
    api = SandboxAPI().start()
    try:
        now = datetime.now(CHINA_TZ).replace(microsecond=0)
        order_sn = api.pinduoduo.order_add(
            updated=now - timedelta(minutes=10), number=7, ship_within=timedelta(hours=3)
        )
        account = pinduoduo_account(api, code=f"{PREFIX}-pdd", lookback_hours="1")
        assert account_poll(account_id=account.pk, budget_seconds=60).outcome == "ok"
    finally:
        api.stop()
    settle()
    order = Order.objects.get(channel=f"{PREFIX}-pdd", external_id=order_sn)
    ship_by = now - timedelta(minutes=10) + timedelta(hours=3)
    assert order.ship_by == ship_by
    anomaly = the_anomaly(order, "sla_at_risk")
    assert (anomaly.evidence_at, anomaly.deadline) == (ship_by - timedelta(hours=4), ship_by)
    assert anomaly.evidence == {
        "ship_by": ship_by.astimezone(UTC).isoformat(),
        "order_status": order.status,
        "hours": 4.0,
        "systems": snapshot(order, anomaly.opened_at),
    }
    assert order.status == "paid"

    # The warehouse ships at last (its WMS through the facts API).
    code = sandbox.systems.wms["WH-A"]
    body = {
        "key": f"{code}-late-{order_sn}", "system": code, "raw_status": "SHIPPED",
        "order": {"channel": f"{PREFIX}-pdd", "external_id": order_sn},
        "occurred_at": datetime.now(UTC).isoformat(), "carrier": "SF",
        "tracking_number": "SF100200300400",
    }  # fmt: skip
    sandbox.send(encoders.api_request(engine.FACTS_PATH, sandbox.systems.token, body))
    assert_resolved_auto(anomaly)


# --- the negative twin --------------------------------------------------------------------


def test_a_healthy_flow_through_the_same_interfaces_opens_nothing(sandbox: Sandbox) -> None:
    config = sandbox.config(seed=20261202, run=5, orders=80, duplicates=0.2, threads=4)
    accounts = [sandbox_account(kind, prefix=PREFIX) for kind in FULFILLED_KINDS]
    ledger = engine.run(accounts, config)
    settle()
    assert ledger.faults == []
    assert [r for r in ledger.sent if not 200 <= r.status < 300] == []
    statuses = dict(
        ((channel, external_id), status)
        for channel, external_id, status in Order.objects.values_list(
            "channel", "external_id", "status"
        )
    )
    assert statuses == ledger.expected
    assert {"delivered", "collected", "cancelled", "warehouse_accepted"} <= set(statuses.values())
    assert TrackingEvent.objects.exclude(order=None).count() > 50
    # Past every short window (sync_lag's 90 s, the paid orders' stock watch): still nothing.
    anomalies_sweep(now=timezone.now() + timedelta(minutes=3))
    assert Anomaly.objects.count() == 0
    assert LedgerEvent.objects.filter(action__startswith="anomaly.").count() == 0
