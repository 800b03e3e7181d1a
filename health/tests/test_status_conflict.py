"""status_conflict and unmapped_status end to end through the intake paths."""

from __future__ import annotations

import pytest

from health.models import Anomaly
from health.tests.conftest import SHOP_SYSTEM, Flow, ago
from orderhub.models import Order, StatusFact
from traceability.models import LedgerEvent


@pytest.mark.django_db
def test_cancel_on_the_channel_while_the_warehouse_picks_opens_then_resolves(flow: Flow) -> None:
    flow.channel("C1", "PAID", ago(10))
    flow.wms("C1", "PICKING", ago(8))
    assert Anomaly.objects.count() == 0
    flow.channel("C1", "CANCELLED", ago(5))
    order = Order.objects.get(external_id="C1")
    assert order.status == "cancelled"
    anomaly = Anomaly.objects.get()
    picking = StatusFact.objects.get(raw_status="PICKING")
    cancel = StatusFact.objects.get(raw_status="CANCELLED")
    assert (anomaly.kind, anomaly.order_id, anomaly.subject_key) == (
        "status_conflict", order.pk, f"order:{order.pk}",
    )  # fmt: skip
    assert anomaly.resolved_at is None
    assert anomaly.evidence_at == cancel.occurred_at
    assert anomaly.evidence == {
        "order_status": "cancelled",
        "facts": [
            {"fact_id": picking.pk, "system": "wms:wms-sh", "raw_status": "PICKING",
             "milestone": "warehouse_accepted", "outcome": "skipped_ahead",
             "occurred_at": picking.occurred_at.isoformat()},
            {"fact_id": cancel.pk, "system": SHOP_SYSTEM, "raw_status": "CANCELLED",
             "milestone": "cancelled", "outcome": "advanced",
             "occurred_at": cancel.occurred_at.isoformat()},
        ],
        "systems": {
            SHOP_SYSTEM: {"raw_status": "CANCELLED", "milestone": "cancelled"},
            "wms:wms-sh": {"raw_status": "PICKING", "milestone": "warehouse_accepted"},
        },
    }  # fmt: skip
    opened = LedgerEvent.objects.get(action="anomaly.opened")
    assert (opened.order_id, opened.subject_id, opened.after["kind"]) == (
        order.pk, str(anomaly.pk), "status_conflict",
    )  # fmt: skip
    assert opened.references == {"evidence": anomaly.evidence}

    # The warehouse intercepts the parcel: its cancel closes the gap.
    flow.wms("C1", "CANCELLED", ago(1))
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_note) == (
        "auto", "new evidence shows the gap is closed",
    )  # fmt: skip
    assert anomaly.resolved_at is not None
    resolved = LedgerEvent.objects.get(action="anomaly.resolved")
    assert (resolved.order_id, resolved.subject_id, resolved.actor) == (
        order.pk, str(anomaly.pk), "orderhub:health",
    )  # fmt: skip
    assert Anomaly.objects.count() == 1


@pytest.mark.django_db
def test_a_fact_the_cancelled_order_cannot_take_is_a_conflict(flow: Flow) -> None:
    flow.channel("C2", "PAID", ago(10))
    flow.channel("C2", "CANCELLED", ago(9))
    flow.wms("C2", "PACKED", ago(5))
    anomaly = Anomaly.objects.get()
    packed = StatusFact.objects.get(raw_status="PACKED")
    cancel = StatusFact.objects.get(raw_status="CANCELLED")
    assert anomaly.kind == "status_conflict"
    assert [fact["fact_id"] for fact in anomaly.evidence["facts"]] == [cancel.pk, packed.pk]
    assert anomaly.evidence["facts"][1]["outcome"] == "conflict"


@pytest.mark.django_db
def test_a_healthy_flow_opens_nothing(flow: Flow) -> None:
    flow.channel("H1", "PAID", ago(30))
    flow.wms("H1", "PICKING", ago(25))
    flow.wms("H1", "PACKED", ago(20))
    flow.wms("H1", "SHIPPED", ago(15), carrier="jd", tracking_number="JD0001")
    flow.channel("H1", "SHIPPED", ago(14))
    assert Order.objects.get(external_id="H1").status == "handed_over"
    assert Anomaly.objects.count() == 0
    assert LedgerEvent.objects.filter(action__startswith="anomaly.").count() == 0


@pytest.mark.django_db
def test_an_unmapped_status_opens_and_mapping_it_resolves(flow: Flow) -> None:
    from channels_app.services.mapping import status_mapping_save

    flow.channel("U1", "PAID", ago(10))
    flow.wms("U1", "ZWISCHENLAGER", ago(5))
    anomaly = Anomaly.objects.get()
    fact = StatusFact.objects.get(raw_status="ZWISCHENLAGER")
    assert anomaly.kind == "unmapped_status"
    assert anomaly.evidence_at == fact.occurred_at
    assert anomaly.evidence["facts"] == [
        {"fact_id": fact.pk, "system": "wms:wms-sh", "raw_status": "ZWISCHENLAGER",
         "milestone": "", "outcome": "unmapped", "occurred_at": fact.occurred_at.isoformat()}
    ]  # fmt: skip
    _mapping, applied = status_mapping_save(
        kind="wms", raw_status="ZWISCHENLAGER", milestone="warehouse_accepted"
    )
    assert applied == 1
    anomaly.refresh_from_db()
    assert anomaly.resolution == "auto"
    assert Order.objects.get(external_id="U1").status == "warehouse_accepted"
    assert Anomaly.objects.filter(resolved_at__isnull=True).count() == 0
