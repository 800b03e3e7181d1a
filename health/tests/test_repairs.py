"""Auto-repair end to end: the fault comes in through the intake (signed webhooks, the facts
API), the anomaly opens, the repair calls the sandbox for real, and the answering evidence
either closes the gap (resolution auto, by the action) or does not (open, escalated)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone, translation

from channels_app.adapters import common
from channels_app.models import ChannelAccount, OutboundCall, OutboxEntry
from channels_app.outbound.relay import outbox_relay_pending
from channels_app.sandbox_api import SandboxAPI
from channels_app.sandbox_api.testing import kuaidi100_account, shop_account
from channels_app.services import inbox_process_pending
from channels_app.services.accounts import channel_account_options_set, channel_account_secrets_set
from channels_app.services.mapping import status_mapping_save
from health.models import Anomaly, OrderCheck, ReplenishmentOrder
from health.repairs import anomaly_repair_run, anomaly_repairs_pending, repairs
from health.services import anomalies_sweep
from health.tests.conftest import Flow, ago
from orderhub.models import Order, StatusFact, StockShortage, TrackingEvent
from orderhub.services.stock import stock_reserve_for_order
from traceability.models import LedgerEvent
from traceability.selectors import order_trace

CN = ZoneInfo("Asia/Shanghai")
SHOPIFY = "shopify-shop"
SHOPIFY_ORDER = "820982911946154508"


@pytest.fixture
def api() -> Iterator[SandboxAPI]:
    sandbox = SandboxAPI().start()
    yield sandbox
    sandbox.stop()


def the_anomaly(kind: str) -> Anomaly:
    return Anomaly.objects.get(kind=kind)


def repair_entry(anomaly: Anomaly) -> dict[str, Any]:
    """The one action entry, without its two timestamps (checked to be present)."""
    (entry,) = anomaly.actions
    assert entry.pop("started_at") <= entry.pop("finished_at")
    return entry


def assert_resolved_by(anomaly: Anomaly, action: str) -> None:
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_by_action, anomaly.escalate_at) == (
        "auto", action, None,
    )  # fmt: skip
    assert anomaly.resolved_at is not None
    resolved = LedgerEvent.objects.get(action="anomaly.resolved", subject_id=str(anomaly.pk))
    assert resolved.after["action"] == action
    repair = LedgerEvent.objects.get(action="anomaly.repair", subject_id=str(anomaly.pk))
    assert (repair.after["action"], repair.after["escalated"], repair.after["resolved"]) == (
        action, False, True,
    )  # fmt: skip


def assert_escalated(anomaly: Anomaly, action: str, outcome: str) -> None:
    anomaly.refresh_from_db()
    assert (anomaly.resolved_at, anomaly.resolution, anomaly.resolved_by_action) == (None, "", "")
    assert anomaly.escalate_at is not None
    repair = LedgerEvent.objects.get(action="anomaly.repair", subject_id=str(anomaly.pk))
    assert repair.after == {
        "kind": anomaly.kind, "action": action, "outcome": outcome, "escalated": True,
        "resolved": False,
    }  # fmt: skip


def test_every_repair_is_registered_for_its_rule() -> None:
    assert {kind: repairs.get(kind).name for kind in repairs} == {
        "ghost_shipment": "courier_query",
        "status_conflict": "warehouse_intercept",
        "stock_shortage": "replenish_and_reassign",
        "sync_lag": "writeback_resend",
        "unmapped_status": "reapply_waiting_facts",
    }


# --- sync_lag: the ship confirmation is pushed to the channel again ------------------------


def shopify_paid(client: Client, at: datetime) -> None:
    """The shop's ``orders/paid`` webhook, signed as Shopify signs it, then processed."""
    body = json.dumps(
        {"id": int(SHOPIFY_ORDER), "financial_status": "paid", "created_at": at.isoformat(),
         "updated_at": at.isoformat(),
         "line_items": [{"sku": "SKU-9", "quantity": 1, "price": "10.00", "name": "Mug"}]}
    ).encode()  # fmt: skip
    headers = {
        "x-shopify-hmac-sha256": common.hmac_sha256_b64("whsec", body),
        "x-shopify-topic": "orders/paid",
        "x-shopify-webhook-id": "w-1",
        "x-shopify-shop-domain": "sandbox.myshopify.com",
    }
    response = client.post(
        f"/hooks/{SHOPIFY}/", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200, response.content
    inbox_process_pending()


def shopify_shipped_unmirrored(flow: Flow, api: SandboxAPI, *, failures: int) -> Anomaly:
    """Paid on Shopify, shipped by the WMS; the ship confirmation fails ``failures`` times at
    Shopify (HTTP 503); 90 s later sync_lag opens."""
    shop_account(api, kind="shopify", code=SHOPIFY)
    api.shops.shopify_order_add(SHOPIFY_ORDER)
    shopify_paid(flow.client, ago(30))
    flow.wms(SHOPIFY_ORDER, "SHIPPED", ago(1), carrier="shunfeng", tracking_number="SF100",
             order={"channel": SHOPIFY, "external_id": SHOPIFY_ORDER})  # fmt: skip
    entry = OutboxEntry.objects.get(action="ship_confirm")
    api.faults.server_error["shopify.fulfillments.json"] = failures
    assert outbox_relay_pending() == 1
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("retry", 1)
    assert api.effective[("shopify", SHOPIFY_ORDER)] == 0
    # 100 s pass: the fact's receipt and the order's next check move back by as much.
    shipped = StatusFact.objects.get(system="wms:wms-sh")
    StatusFact.objects.filter(pk=shipped.pk).update(
        received_at=shipped.received_at - timedelta(seconds=100)
    )
    check = OrderCheck.objects.get(order_id=shipped.order_id)
    assert check.next_check_at == shipped.received_at + timedelta(seconds=90)
    OrderCheck.objects.filter(pk=check.pk).update(
        next_check_at=check.next_check_at - timedelta(seconds=100)
    )
    assert anomalies_sweep(now=timezone.now()) == 1
    return the_anomaly("sync_lag")


@pytest.mark.django_db
def test_sync_lag_repair_resends_the_write_back_and_its_acknowledgement_resolves(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly = shopify_shipped_unmirrored(flow, api, failures=3)  # the relay's 3 tries
    assert anomaly.resolved_at is None

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "acknowledged"

    assert api.effective[("shopify", SHOPIFY_ORDER)] == 1  # Shopify has the fulfilment once
    entry = OutboxEntry.objects.get(action="ship_confirm")
    assert (entry.status, entry.attempts) == ("acknowledged", 1)  # attempts counted afresh
    ack = StatusFact.objects.get(raw_status="ack:ship_confirm")
    assert (ack.system, ack.milestone) == (f"shopify:{SHOPIFY}", "waybill_issued")
    assert_resolved_by(anomaly, "writeback_resend")
    assert repair_entry(anomaly) == {
        "action": "writeback_resend", "outcome": "acknowledged", "escalated": False,
        "detail": {"outbox_entry": entry.pk, "account": SHOPIFY, "status": "acknowledged",
                   "attempts": 1, "error": ""},
    }  # fmt: skip
    assert (
        LedgerEvent.objects.filter(action="outbox.requeued", subject_id=str(entry.pk)).count() == 1
    )
    # A second run (the task delivered twice, the sweep) does nothing.
    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "skipped"
    assert anomaly_repairs_pending() == 0
    assert api.effective[("shopify", SHOPIFY_ORDER)] == 1


@pytest.mark.django_db
def test_sync_lag_repair_that_shopify_still_refuses_stays_open_and_escalates(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly = shopify_shipped_unmirrored(flow, api, failures=100)

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "retry"

    assert api.effective[("shopify", SHOPIFY_ORDER)] == 0
    entry = OutboxEntry.objects.get(action="ship_confirm")
    assert (entry.status, entry.attempts) == ("retry", 1)
    assert OutboundCall.objects.filter(outbox=entry, response_status=503).count() == 6
    assert_escalated(anomaly, "writeback_resend", "retry")
    assert StatusFact.objects.filter(raw_status="ack:ship_confirm").count() == 0


@pytest.mark.django_db
def test_an_acknowledged_write_back_within_90_seconds_opens_no_sync_lag(
    flow: Flow, api: SandboxAPI
) -> None:
    shop_account(api, kind="shopify", code=SHOPIFY)
    api.shops.shopify_order_add(SHOPIFY_ORDER)
    shopify_paid(flow.client, ago(30))
    flow.wms(SHOPIFY_ORDER, "SHIPPED", ago(1), carrier="shunfeng", tracking_number="SF100",
             order={"channel": SHOPIFY, "external_id": SHOPIFY_ORDER})  # fmt: skip
    assert outbox_relay_pending() == 1
    shipped = StatusFact.objects.get(system="wms:wms-sh")
    # The channel's own facts never reach handed_over; the acknowledgement mirrors it.
    assert anomalies_sweep(now=shipped.received_at + timedelta(seconds=91)) == 0
    assert anomaly_at(shipped.order_id, shipped.received_at + timedelta(seconds=91)) == 0


def anomaly_at(order_id: int, now: datetime) -> int:
    from django.db import transaction

    from health.services import anomalies_evaluate_locked

    with transaction.atomic():
        Order.objects.select_for_update().get(pk=order_id)
        return len(anomalies_evaluate_locked(order_ids=[order_id], now=now).opened)


# --- ghost_shipment: the courier is queried at once ----------------------------------------


def ghost(flow: Flow, api: SandboxAPI, number: str) -> tuple[Anomaly, datetime]:
    """Shipped by the WMS 25 hours ago (mirrored by the channel), no scan pushed since."""
    kuaidi100_account(api)
    shipped_at = ago(25 * 60)
    flow.channel("G1", "PAID", shipped_at - timedelta(hours=2))
    flow.wms("G1", "SHIPPED", shipped_at, carrier="jd", tracking_number=number)
    flow.channel("G1", "SHIPPED", shipped_at + timedelta(seconds=30))
    # Past the 24-hour deadline when the facts arrive: the intake's evaluation opens it.
    anomaly = the_anomaly("ghost_shipment")
    assert anomaly.deadline == shipped_at + timedelta(hours=24)
    assert Anomaly.objects.count() == 1
    return anomaly, shipped_at


@pytest.mark.django_db
def test_ghost_shipment_repair_queries_the_courier_and_the_scan_resolves(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly, shipped_at = ghost(flow, api, "JDG0001")
    scan = (shipped_at + timedelta(seconds=60)).astimezone(CN).strftime("%Y-%m-%d %H:%M:%S")
    api.kuaidi100.trace_set(
        "JDG0001",
        [{"ftime": scan, "time": scan, "context": "快递已收取快件", "status": "揽收",
          "statusCode": "103"}],
        state="103",
    )  # fmt: skip

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "scanned"

    (query,) = api.kuaidi100.queries
    assert json.loads(query["param"]) == {"com": "jd", "num": "JDG0001", "resultv2": "1"}
    call = OutboundCall.objects.get(operation="kuaidi100.query")
    assert (call.order_id_ref, call.response_status) == (anomaly.order_id, 200)
    event = TrackingEvent.objects.get(tracking_number="JDG0001")
    assert (event.order_id, event.stage) == (anomaly.order_id, "in_transit")  # 揽收
    assert_resolved_by(anomaly, "courier_query")
    assert repair_entry(anomaly) == {
        "action": "courier_query", "outcome": "scanned", "escalated": False,
        "detail": {"account": "kd100-main", "tracking_number": "JDG0001", "events": 1},
    }  # fmt: skip
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_ghost_shipment_repair_without_a_scan_stays_open_and_escalates(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly, _shipped_at = ghost(flow, api, "JDG0002")  # Kuaidi100 has no trace of it

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "no_trace"

    assert len(api.kuaidi100.queries) == 1
    assert TrackingEvent.objects.count() == 0
    assert_escalated(anomaly, "courier_query", "no_trace")
    assert repair_entry(anomaly)["detail"] == {
        "account": "kd100-main", "tracking_number": "JDG0002", "events": 0,
    }  # fmt: skip


# --- status_conflict: an intercept request to the warehouse --------------------------------


def wms_api(api: SandboxAPI) -> None:
    """The Shanghai WMS's own API is the sandbox's."""
    account = ChannelAccount.objects.get(code="wms-sh")
    channel_account_options_set(
        account_id=account.pk, options={**account.options, "base_url": api.url}
    )
    channel_account_secrets_set(account_id=account.pk, secrets={"api_token": "wms-token"})
    api.wms.tokens.add("wms-token")


def cancelled_while_picking(flow: Flow, api: SandboxAPI, order_id: str, wms_state: str) -> Anomaly:
    wms_api(api)
    api.wms.order_set(order_id, wms_state)
    flow.channel(order_id, "PAID", ago(10))
    flow.wms(order_id, "PICKING", ago(8))
    flow.channel(order_id, "CANCELLED", ago(1))
    return the_anomaly("status_conflict")


@pytest.mark.django_db
def test_status_conflict_repair_intercepts_at_the_warehouse_and_its_answer_resolves(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly = cancelled_while_picking(flow, api, "C1", "PICKING")

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "intercepted"

    entry = OutboxEntry.objects.get(action="intercept")
    assert api.wms.intercepts == [
        {"order_no": "C1", "reason": "cancelled on test-shop",
         "request_id": f"wms-sh:{anomaly.order_id}:intercept:cancelled"}
    ]  # fmt: skip
    assert api.wms.orders["C1"] == "INTERCEPTED"
    assert list(
        OutboundCall.objects.filter(outbox=entry).order_by("id").values_list(
            "operation", "response_status"
        )
    ) == [("wms.order_get", 200), ("wms.intercept", 200)]  # fmt: skip
    fact = StatusFact.objects.get(raw_status="ack:intercept")
    assert (fact.system, fact.milestone) == ("wms:wms-sh", "cancelled")
    assert_resolved_by(anomaly, "warehouse_intercept")
    assert repair_entry(anomaly) == {
        "action": "warehouse_intercept", "outcome": "intercepted", "escalated": False,
        "detail": {"requests": [{"outbox_entry": entry.pk, "account": "wms-sh",
                                 "status": "acknowledged", "attempts": 1, "error": ""}]},
    }  # fmt: skip


@pytest.mark.django_db
def test_status_conflict_repair_the_warehouse_refuses_stays_open_and_escalates(
    flow: Flow, api: SandboxAPI
) -> None:
    anomaly = cancelled_while_picking(flow, api, "C2", "SHIPPED")  # the parcel has left

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "refused"

    entry = OutboxEntry.objects.get(action="intercept")
    assert entry.status == "failed"
    assert entry.last_error.startswith("4091")
    assert "already shipped" in entry.last_error
    assert api.wms.orders["C2"] == "SHIPPED"
    assert api.effective[("wms", "C2")] == 0
    assert StatusFact.objects.filter(raw_status="ack:intercept").count() == 0
    assert_escalated(anomaly, "warehouse_intercept", "refused")


# --- stock_shortage: a replenishment work order and another warehouse ---------------------


LINES = [{"sku": "SKU-1", "qty": 3, "price": "10.00"}]


def short_in_shanghai(flow: Flow) -> Anomaly:
    flow.stock("SKU-1", 1)
    flow.channel("K1", "PAID", ago(0), lines=LINES)
    order = Order.objects.get(external_id="K1")
    assert stock_reserve_for_order(order_id=order.pk) == "short"
    assert anomalies_sweep(now=timezone.now() + timedelta(seconds=16)) == 1
    return the_anomaly("stock_shortage")


@pytest.mark.django_db
def test_stock_shortage_repair_orders_replenishment_and_moves_to_a_warehouse_with_stock(
    flow: Flow,
) -> None:
    anomaly = short_in_shanghai(flow)
    flow.stock("SKU-1", 7, wms="wms-bj", warehouse="WH-BJ")  # Beijing reports stock

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "reassigned"

    work_order = ReplenishmentOrder.objects.get()
    assert (
        work_order.warehouse.code, work_order.sku, work_order.quantity, work_order.safety_stock,
        work_order.available, work_order.status, work_order.anomaly_id, work_order.order_id,
    ) == ("WH-SH", "SKU-1", 12, 10, 1, "open", anomaly.pk, anomaly.order_id)  # fmt: skip
    assert work_order.history.count() == 1
    order = Order.objects.get(pk=anomaly.order_id)
    assert (order.warehouse.code, order.status) == ("WH-BJ", "stock_locked")
    assigned = LedgerEvent.objects.get(action="order.warehouse_assigned", order_id=order.pk)
    assert (assigned.actor, assigned.after) == ("orderhub:repair", {"warehouse": "WH-BJ"})
    assert StockShortage.objects.filter(resolved_at__isnull=True).count() == 0
    assert_resolved_by(anomaly, "replenish_and_reassign")
    assert repair_entry(anomaly) == {
        "action": "replenish_and_reassign", "outcome": "reassigned", "escalated": False,
        "detail": {"warehouse": "WH-BJ", "replenishments": [
            {"replenishment_order": work_order.pk, "warehouse": "WH-SH", "sku": "SKU-1",
             "quantity": 12, "created": True}]},
    }  # fmt: skip


@pytest.mark.django_db
def test_stock_shortage_repair_without_another_warehouse_stays_open_and_escalates(
    flow: Flow,
) -> None:
    anomaly = short_in_shanghai(flow)
    flow.stock("SKU-1", 2, wms="wms-bj", warehouse="WH-BJ")  # not enough there either

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "no_other_warehouse"

    work_order = ReplenishmentOrder.objects.get()
    assert (work_order.warehouse.code, work_order.quantity) == ("WH-SH", 12)
    event = LedgerEvent.objects.get(action="replenishment.created")
    assert event.after == {
        "warehouse": "WH-SH", "sku": "SKU-1", "quantity": 12, "safety_stock": 10, "available": 1,
    }  # fmt: skip
    order = Order.objects.get(pk=anomaly.order_id)
    assert (order.status, order.warehouse_id) == ("paid", None)
    assert_escalated(anomaly, "replenish_and_reassign", "no_other_warehouse")


# --- unmapped_status: the waiting facts are re-applied once mapped -------------------------


@pytest.mark.django_db
def test_unmapped_status_waits_for_a_mapping_escalated_and_mapping_it_resolves(
    flow: Flow,
) -> None:
    flow.channel("U1", "PAID", ago(10))
    flow.wms("U1", "ZWISCHENLAGER", ago(5))
    anomaly = the_anomaly("unmapped_status")

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "waiting_for_mapping"

    # The negative twin: nothing can map it but a person; open and escalated.
    assert_escalated(anomaly, "reapply_waiting_facts", "waiting_for_mapping")
    assert repair_entry(anomaly) == {
        "action": "reapply_waiting_facts", "outcome": "waiting_for_mapping", "escalated": True,
        "detail": {"applied": 0, "unmapped": ["wms:ZWISCHENLAGER"]},
    }  # fmt: skip
    assert Order.objects.get(pk=anomaly.order_id).status == "paid"

    # A person maps it: the mapping service re-applies the waiting fact, the gap closes.
    _mapping, applied = status_mapping_save(
        kind="wms", raw_status="ZWISCHENLAGER", milestone="warehouse_accepted"
    )
    assert applied == 1
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_by_action) == ("auto", "reapply_waiting_facts")
    assert Order.objects.get(pk=anomaly.order_id).status == "warehouse_accepted"


@pytest.mark.django_db
def test_the_repair_sweep_runs_each_untouched_anomaly_once_and_a_healthy_flow_none(
    flow: Flow,
) -> None:
    flow.channel("H1", "PAID", ago(30))
    flow.wms("H1", "PICKING", ago(25))
    flow.wms("H1", "SHIPPED", ago(15), carrier="jd", tracking_number="JD0001")
    flow.channel("H1", "SHIPPED", ago(14))
    assert anomaly_repairs_pending() == 0
    assert LedgerEvent.objects.filter(action="anomaly.repair").count() == 0

    flow.channel("U2", "PAID", ago(10))
    flow.wms("U2", "GEHEIM", ago(5))
    assert anomaly_repairs_pending() == 1
    assert anomaly_repairs_pending() == 0
    assert LedgerEvent.objects.filter(action="anomaly.repair").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_repair_runs_in_a_real_worker_after_the_opening_commits(
    flow: Flow, celery_worker_process: Any
) -> None:
    flow.channel("U3", "PAID", ago(10))
    flow.wms("U3", "GEHEIM", ago(5))  # committed: the engine queued the repair
    anomaly = the_anomaly("unmapped_status")
    deadline = time.monotonic() + 60
    while not LedgerEvent.objects.filter(action="anomaly.repair").exists():
        assert time.monotonic() < deadline, "the worker did not run the repair"
        time.sleep(0.2)
    assert_escalated(anomaly, "reapply_waiting_facts", "waiting_for_mapping")
    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "skipped"


@pytest.mark.django_db
def test_the_trace_shows_the_repair_action_and_the_resolution_by_it(
    flow: Flow, api: SandboxAPI
) -> None:
    from health.trace import anomaly_entries

    anomaly = cancelled_while_picking(flow, api, "C3", "PICKING")
    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "intercepted"
    with translation.override("en"):
        entries = anomaly_entries(Order.objects.get(pk=anomaly.order_id))
    assert [entry.title for entry in entries] == [
        "Anomaly opened: Status conflict",
        "Repair action: warehouse_intercept",
        "Anomaly resolved: Status conflict",
    ]
    action = entries[1]
    assert (action.source_system, dict(action.details)["outcome"]) == (
        "orderhub:repair", "intercepted",
    )  # fmt: skip
    assert "escalated" not in dict(action.details)
    assert dict(entries[2].details)["by repair action"] == "warehouse_intercept"
    # The trace page's and the PDF's anomaly table, and their timeline.
    with translation.override("en"):
        trace = order_trace(order=Order.objects.get(pk=anomaly.order_id))
    assert [(span.kind, span.resolved_by) for span in trace.anomalies] == [
        ("status_conflict", "auto (warehouse_intercept)")
    ]
    assert "Repair action: warehouse_intercept" in [entry.title for entry in trace.entries]


@pytest.mark.django_db
def test_ghost_shipment_repair_without_a_courier_account_escalates_with_the_reason(
    flow: Flow,
) -> None:
    flow.channel("G2", "PAID", ago(27 * 60))
    flow.wms("G2", "SHIPPED", ago(25 * 60), carrier="jd", tracking_number="JDG0003")
    anomaly = the_anomaly("ghost_shipment")

    assert anomaly_repair_run(anomaly_id=anomaly.pk) == "no_courier_account"

    assert_escalated(anomaly, "courier_query", "no_courier_account")
    assert repair_entry(anomaly)["detail"] == {"error": "no enabled kuaidi100 account to query"}
    assert OutboundCall.objects.count() == 0


@pytest.mark.django_db
def test_auto_repair_switched_off_runs_nothing(flow: Flow, settings: Any) -> None:
    settings.HEALTH_AUTO_REPAIR = False
    flow.channel("U4", "PAID", ago(10))
    flow.wms("U4", "GEHEIM", ago(5))
    assert anomaly_repairs_pending() == 0
    assert the_anomaly("unmapped_status").actions == []
