"""The live health board: each panel's exact values and statement count, the warehouse
scope (also at the URL level), the review button and the score's drill-down page."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from health import board
from health.board_services import FeedbackIn, feedback_record
from health.choices import AnomalyKind
from health.models import Anomaly, AnomalyReview
from orderhub.choices import Priority
from orderhub.models import Order, StatusFact, Warehouse
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db


def anomaly(
    order: Order, kind: str, *, opened: datetime, deadline: datetime | None = None
) -> Anomaly:
    return Anomaly.objects.create(
        kind=kind, order=order, subject_key=f"order:{order.pk}", opened_at=opened,
        evidence_at=opened, deadline=deadline, evidence={"facts": [f"{order.pk}"]},
    )  # fmt: skip


@pytest.fixture
def world() -> dict[str, Any]:
    now = timezone.now()
    sh = WarehouseFactory.create(code="WH-SH")
    gz = WarehouseFactory.create(code="WH-GZ")
    urgent = OrderFactory.create(channel="tmall", warehouse=sh, total_amount=Decimal("2000"),
                                 priority=Priority.KEY_ACCOUNT, province="上海市")  # fmt: skip
    calm = OrderFactory.create(channel="tmall", warehouse=sh, total_amount=Decimal("1000"),
                               priority=Priority.NORMAL)  # fmt: skip
    other = OrderFactory.create(channel="jd", warehouse=gz, total_amount=Decimal("500"),
                                priority=Priority.LOW, province="广东省")  # fmt: skip
    Order.objects.filter(pk=calm.pk).update(placed_at=now - timedelta(minutes=90))
    Order.objects.filter(pk__in=[urgent.pk, other.pk]).update(placed_at=now - timedelta(minutes=10))
    a_urgent = anomaly(urgent, AnomalyKind.GHOST_SHIPMENT, opened=now - timedelta(days=2),
                       deadline=now - timedelta(hours=1))  # fmt: skip
    a_calm = anomaly(calm, AnomalyKind.SYNC_LAG, opened=now - timedelta(hours=12))
    a_other = anomaly(other, AnomalyKind.SYNC_LAG, opened=now - timedelta(minutes=5))
    for order, system, raw in [(urgent, "wms:WH-SH", "SHIPPED"), (urgent, "tmall:shop", "WAIT"),
                               (calm, "wms:WH-SH", "PICKING")]:  # fmt: skip
        StatusFact.objects.create(order=order, system=system, raw_status=raw, milestone="paid",
                                  occurred_at=now - timedelta(minutes=30),
                                  received_at=now - timedelta(minutes=1),
                                  dedupe_key=f"{system}-{raw}")  # fmt: skip
    for n, order in enumerate([urgent, urgent, other]):
        feedback_record(
            feedback=FeedbackIn(channel=order.channel, external_order_id=order.external_id,
                                kind="complaint", external_id=f"c{n}", occurred_at=now),
            source_system="test",
        )  # fmt: skip
    return {"now": now, "sh": sh, "gz": gz, "urgent": urgent, "calm": calm, "other": other,
            "a_urgent": a_urgent, "a_calm": a_calm, "a_other": a_other}  # fmt: skip


def everywhere() -> board.BoardScope:
    return board.BoardScope(None)


def test_top_ten_ranked_by_risk_with_snapshot(
    world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(3):
        entries = board.top_abnormal_panel(now=world["now"], scope=everywhere())
    assert [entry.anomaly.pk for entry in entries] == [
        world["a_urgent"].pk, world["a_calm"].pk, world["a_other"].pk
    ]  # fmt: skip
    # overdue 40 + value 25 + key account 20 + a day old 15; then 12.5 + 6.7 + 7.5
    assert [entry.risk for entry in entries[:2]] == [Decimal("100.0"), Decimal("26.7")]
    assert entries[0].url == f"/orders/{world['urgent'].pk}/"
    assert sorted((s, raw) for s, raw, _m, _t in entries[0].snapshot) == [
        ("tmall:shop", "WAIT"), ("wms:WH-SH", "SHIPPED")
    ]  # fmt: skip
    assert entries[2].snapshot == []


def test_a_warehouse_scope_sees_only_its_orders(world: dict[str, Any]) -> None:
    scope = board.BoardScope((world["gz"].pk,), "WH-GZ")
    entries = board.top_abnormal_panel(now=world["now"], scope=scope)
    assert [entry.order.pk for entry in entries] == [world["other"].pk]
    assert board.complaint_map_panel(now=world["now"], scope=scope) == [("广东省", 1)]
    assert [row.channel for row in board.funnel_panel(now=world["now"], scope=scope)] == ["jd"]


def test_funnel_counts_today_last_hour_and_intercepted(
    world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(2):
        rows = board.funnel_panel(now=world["now"], scope=everywhere())
    tmall = next(row for row in rows if row.channel == "tmall")
    assert tmall.steps[0] == ("placed", 2, 1)
    assert tmall.steps[1] == ("paid", 0, 0)
    # the ghost shipment opened 2 days ago is not today's; the sync lag 12 h ago may be
    # yesterday in local time: count what the window says
    day_start = board.window_for(world["now"], "day").start
    expected = sum(1 for a in (world["a_urgent"], world["a_calm"]) if a.opened_at >= day_start)
    assert tmall.anomalies == (expected, 0)


def test_complaint_map_per_province(world: dict[str, Any], django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        provinces = board.complaint_map_panel(now=world["now"], scope=everywhere())
    assert provinces == [("上海市", 2), ("广东省", 1)]


def test_trends_and_scores_statement_counts(
    world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(7):
        days = board.trends_panel(now=world["now"], scope=everywhere())
    assert len(days) == 7
    assert sum(day.opened for day in days) == 3 - (
        world["a_urgent"].opened_at
        < board.window_for(world["now"], "day").start - timedelta(days=6)
    )
    with django_assert_num_queries(5):
        rows = board.score_panel(now=world["now"], scope=everywhere())
    assert {(row.scope, row.subject) for row in rows} == {
        ("channel", "tmall"),
        ("warehouse", "WH-SH"),
    }


@pytest.fixture
def ops(client: Client) -> Client:
    User.objects.create_superuser("ops", password="pw-123456")
    client.login(username="ops", password="pw-123456")
    return client


@pytest.fixture
def gz_manager(world: dict[str, Any]) -> Client:
    user = User.objects.create_user("gz", password="pw-123456", is_staff=True)
    world["gz"].staff.add(user)
    client = Client()
    client.login(username="gz", password="pw-123456")
    return client


@pytest.mark.parametrize(
    ("panel", "statements"),
    [("funnel", 2), ("top", 3), ("map", 1), ("trends", 7), ("scores", 5)],
)
def test_each_panel_url_answers_with_its_bounded_statements(
    world: dict[str, Any], ops: Client, django_assert_num_queries: Any, panel: str, statements: int
) -> None:
    # + the session, the user and the two-factor device check (middleware), nothing else
    with django_assert_num_queries(statements + 3):
        response = ops.get(f"/en/board/panel/{panel}/")
    assert response.status_code == 200


def test_board_page_lists_every_panel_url(world: dict[str, Any], ops: Client) -> None:
    page = ops.get("/en/board/").content.decode()
    for panel in board_panels():
        assert f'hx-get="/en/board/panel/{panel}/"' in page
    assert "vendor/echarts/echarts.min.js" in page
    assert "<script>" not in page


def board_panels() -> tuple[str, ...]:
    from health.board_views import PANELS

    return PANELS


def test_warehouse_manager_is_kept_to_their_warehouse_at_the_url_level(
    world: dict[str, Any], gz_manager: Client
) -> None:
    assert gz_manager.get("/en/board/").status_code == 200
    top = gz_manager.get("/en/board/panel/top/").content.decode()
    assert world["other"].external_id in top
    assert world["urgent"].external_id not in top
    assert gz_manager.get("/en/board/panel/top/?warehouse=WH-SH").status_code == 404
    assert gz_manager.get("/en/board/?warehouse=WH-SH").status_code == 404
    assert gz_manager.get("/en/board/panel/top/?warehouse=WH-GZ").status_code == 200
    refused = gz_manager.post(
        f"/en/board/review/{world['a_urgent'].pk}/", {"decision": "confirmed"}
    )
    assert refused.status_code == 404
    assert AnomalyReview.objects.count() == 0


def test_staff_without_order_rights_and_anonymous_are_refused(world: dict[str, Any]) -> None:
    assert Client().get("/en/board/").status_code == 302
    User.objects.create_user("clerk", password="pw-123456", is_staff=True)
    clerk = Client()
    clerk.login(username="clerk", password="pw-123456")
    assert clerk.get("/en/board/").status_code == 404


def test_review_button_records_the_decision_with_a_ledger_event(
    world: dict[str, Any], ops: Client
) -> None:
    target = world["a_calm"]
    response = ops.post(f"/en/board/review/{target.pk}/", {"decision": "false_alarm"},
                        HTTP_HX_REQUEST="true")  # fmt: skip
    assert response.status_code == 200
    assert 'data-decision="false_alarm"' in response.content.decode()
    review = AnomalyReview.objects.get()
    assert (review.anomaly_id, review.order_id, review.decision, review.reviewed_by_id) == (
        target.pk, world["calm"].pk, "false_alarm", User.objects.get(username="ops").pk
    )  # fmt: skip
    event = LedgerEvent.objects.get(action="health.anomaly_reviewed")
    assert (event.actor, event.order_id, event.after["decision"]) == ("ops", world["calm"].pk,
                                                                      "false_alarm")  # fmt: skip


def test_an_unknown_decision_is_refused_and_nothing_recorded(
    world: dict[str, Any], ops: Client
) -> None:
    response = ops.post(f"/en/board/review/{world['a_calm'].pk}/", {"decision": "whatever"})
    assert response.status_code == 400
    assert AnomalyReview.objects.count() == 0
    assert not LedgerEvent.objects.filter(action="health.anomaly_reviewed").exists()


def test_score_drill_down_page(world: dict[str, Any], ops: Client) -> None:
    Order.objects.filter(pk=world["urgent"].pk).update(shipped_at=world["now"], tracking_number="")
    page = ops.get("/en/board/score/tracking_completeness/?scope=channel&subject=tmall&window=day")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'href="/en/orders/{world["urgent"].pk}/"' in text
    assert world["calm"].external_id not in text
    assert ops.get("/en/board/score/nonsense/?scope=channel").status_code == 404


def test_warehouse_listed_on_the_page_only_their_own(
    world: dict[str, Any], gz_manager: Client
) -> None:
    page = gz_manager.get("/en/board/").content.decode()
    assert 'value="WH-GZ"' in page
    assert 'value="WH-SH"' not in page
    assert isinstance(world["sh"], Warehouse)
