"""The live health board: each panel's exact values and statement count, the warehouse
scope (also at the URL level), the review button and the score's drill-down page."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
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
    # the score's seven, the recovery selector's two (its work_mem inside a savepoint: + 2)
    with django_assert_num_queries(11):
        days = board.trends_panel(now=world["now"], scope=everywhere())
    assert len(days) == 7
    assert sum(day.opened for day in days) == 3 - (
        world["a_urgent"].opened_at
        < board.window_for(world["now"], "day").start - timedelta(days=6)
    )
    with django_assert_num_queries(6):
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
    [("funnel", 2), ("top", 3), ("alerts", 1), ("map", 1), ("trends", 11), ("scores", 6)],
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


# --- open alerts -------------------------------------------------------------------------------
@pytest.fixture
def alerts(world: dict[str, Any]) -> dict[str, Any]:
    from health.alerts.models import AlertRule, Delivery, Incident, Notifier

    now = world["now"]
    rule = AlertRule.objects.create(
        code="board-untracked", name="Untracked orders", metric="orders_without_tracking",
        comparator="gt", threshold=Decimal("50"), window_minutes=120,
        escalation=[{"after_minutes": 30, "notifiers": []}, {"after_minutes": 60, "notifiers": []}],
    )  # fmt: skip
    notifier = Notifier.objects.create(kind="wecom", code="board-robot")

    def incident(key: str, warehouse: Warehouse | None, status: str, minutes: int,
                 **fields: Any) -> Incident:  # fmt: skip
        return Incident.objects.create(
            rule=rule, subject_key=key, warehouse=warehouse, status=status,
            value=Decimal("63"), breach_started_at=now - timedelta(minutes=minutes + 5),
            opened_at=now - timedelta(minutes=minutes), ack_nonce=key[-8:], **fields,
        )  # fmt: skip

    sh_open = incident("warehouse:WH-SH", world["sh"], "open", 40, escalation_step=1,
                       next_reminder_at=now + timedelta(minutes=20))  # fmt: skip
    gz_open = incident("warehouse:WH-GZ", world["gz"], "open", 10,
                       next_reminder_at=now + timedelta(minutes=20))  # fmt: skip
    channel = incident("channel:tmall", None, "acknowledged", 90,
                       acknowledged_at=now - timedelta(minutes=80))  # fmt: skip
    incident("warehouse:WH-X", world["sh"], "pending", 1)
    resolved = incident("warehouse:WH-Y", world["sh"], "resolved", 300)
    Incident.objects.filter(pk=resolved.pk).update(resolved_at=now)
    for offset, status in ((2, "failed"), (1, "sent")):
        Delivery.objects.create(notifier=notifier, incident=sh_open, kind="opened", status=status,
                                title="t", text="t", not_before=now,
                                created_at=now - timedelta(minutes=offset))  # fmt: skip
    return {"rule": rule, "sh_open": sh_open, "gz_open": gz_open, "channel": channel}


def test_alerts_panel_lists_open_incidents_newest_first_with_their_step(
    alerts: dict[str, Any], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        entries = board.alerts_panel(scope=everywhere())
    assert [(e.incident.subject_key, e.incident.status, e.incident.escalation_step, e.steps,
             e.last_delivery, e.incident.value, e.incident.rule.code) for e in entries] == [
        ("warehouse:WH-GZ", "open", 0, 2, "", Decimal("63.00"), "board-untracked"),
        ("warehouse:WH-SH", "open", 1, 2, "sent", Decimal("63.00"), "board-untracked"),
        ("channel:tmall", "acknowledged", 0, 2, "", Decimal("63.00"), "board-untracked"),
    ]  # fmt: skip
    assert entries[1].incident.opened_at == alerts["sh_open"].opened_at
    assert len(board.alerts_panel(scope=everywhere(), limit=2)) == 2


def test_alerts_panel_of_a_warehouse_shows_only_that_warehouse(alerts: dict[str, Any]) -> None:
    scope = board.BoardScope((alerts["gz_open"].warehouse_id,), "WH-GZ")
    assert [e.incident.pk for e in board.alerts_panel(scope=scope)] == [alerts["gz_open"].pk]
    nowhere = board.BoardScope((WarehouseFactory.create(code="WH-EMPTY").pk,), "WH-EMPTY")
    assert board.alerts_panel(scope=nowhere) == []


def test_acknowledge_from_the_board_records_who_and_stops_the_escalation(
    alerts: dict[str, Any], ops: Client
) -> None:
    from health.alerts.models import Incident

    target = alerts["sh_open"]
    response = ops.post(f"/en/board/alerts/{target.pk}/acknowledge/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'data-incident="{target.pk}" data-status="acknowledged"' in response.content.decode()
    target.refresh_from_db()
    assert (target.status, target.acknowledged_by, target.next_reminder_at) == (
        "acknowledged", User.objects.get(username="ops"), None
    )  # fmt: skip
    event = LedgerEvent.objects.get(action="alerts.incident_acknowledged")
    assert (event.actor, event.subject_id, event.after["source"]) == ("ops", str(target.pk),
                                                                      "board")  # fmt: skip
    # the other warehouse's incident is untouched
    other = Incident.objects.get(pk=alerts["gz_open"].pk)
    assert (other.status, other.acknowledged_at) == ("open", None)


def test_acknowledge_is_refused_outside_the_scope_without_the_right_or_without_csrf(
    alerts: dict[str, Any], gz_manager: Client
) -> None:
    from health.alerts.models import Incident

    sh_incident, gz_incident = alerts["sh_open"], alerts["gz_open"]
    assert gz_manager.post(f"/en/board/alerts/{sh_incident.pk}/acknowledge/").status_code == 404
    assert gz_manager.post("/en/board/alerts/999999/acknowledge/").status_code == 404
    head_office = User.objects.create_user("viewer", password="pw-123456", is_staff=True)
    head_office.user_permissions.set(Permission.objects.filter(codename="view_order"))
    viewer = Client()
    viewer.login(username="viewer", password="pw-123456")
    assert viewer.post(f"/en/board/alerts/{sh_incident.pk}/acknowledge/").status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="gz", password="pw-123456")
    assert strict.post(f"/en/board/alerts/{gz_incident.pk}/acknowledge/").status_code == 403
    assert gz_manager.get(f"/en/board/alerts/{gz_incident.pk}/acknowledge/").status_code == 405
    statuses = dict(Incident.objects.values_list("pk", "status"))
    assert (statuses[sh_incident.pk], statuses[gz_incident.pk]) == ("open", "open")
    assert not LedgerEvent.objects.filter(action="alerts.incident_acknowledged").exists()
    # the warehouse's own manager may acknowledge its incident
    answer = gz_manager.post(f"/en/board/alerts/{gz_incident.pk}/acknowledge/")
    assert (answer.status_code, answer["Location"]) == (302, "/en/board/")
    gz_incident.refresh_from_db()
    assert (gz_incident.status, gz_incident.acknowledged_by.get_username()) == (
        "acknowledged", "gz"
    )  # fmt: skip


def test_trends_show_the_recovery_cycle_per_day_in_scope(world: dict[str, Any]) -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 3, 2, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    mine, theirs = WarehouseFactory.create(code="WH-T1"), WarehouseFactory.create(code="WH-T2")

    def closed(warehouse: Warehouse, opened: datetime, seconds: int | None, how: str) -> None:
        order = OrderFactory.create(warehouse=warehouse)
        row = anomaly(order, AnomalyKind.SYNC_LAG, opened=opened)
        if seconds is not None:
            Anomaly.objects.filter(pk=row.pk).update(
                resolved_at=opened + timedelta(seconds=seconds), resolution=how
            )

    closed(mine, now - timedelta(hours=2), 60, "auto")  # auto within 2 min
    closed(mine, now - timedelta(hours=1), 600, "manual")
    closed(mine, now - timedelta(minutes=30), None, "")  # still open
    closed(mine, now - timedelta(days=1, hours=1), 180, "auto")  # yesterday, auto but late
    closed(theirs, now - timedelta(hours=3), 30, "auto")  # another warehouse: not counted
    days = board.trends_panel(now=now, scope=board.BoardScope((mine.pk,), "WH-T1"))
    assert [(d.day, d.opened, d.recovery_median_minutes, d.auto_within_2min_share,
             d.cycle_median_minutes) for d in days[-2:]] == [
        ("2026-03-01", 1, 3.0, 0.0, 3.0),
        ("2026-03-02", 3, 5.5, 0.333, 5.5),
    ]  # fmt: skip
    assert [(d.opened, d.recovery_median_minutes) for d in days[:-2]] == [(0, None)] * 5
