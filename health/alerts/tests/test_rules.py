"""Rules on constructed data, driven by the real beat task with an injected clock: each
default rule fires once and only once per incident, reminders follow the escalation steps,
acknowledgement stops them, resolution sends one "resolved", quiet hours hold messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone, translation

from channels_app.sandbox_api.server import SandboxAPI
from health.alerts.admin import AlertRuleAdmin
from health.alerts.beat import alerts_evaluate_task
from health.alerts.builtin_metrics import health_score_daily_metric
from health.alerts.metrics import HEALTH_SCORE_DAILY, Scope, metrics
from health.alerts.models import AlertRule, Delivery, Incident
from health.alerts.selectors import incidents_open_for
from health.alerts.services.deliveries import ack_url
from health.alerts.services.incidents import incident_acknowledge
from health.alerts.services.rules import alert_rule_save
from health.alerts.tests.conftest import make_notifier
from health.models import Anomaly
from health.score import health_score_daily
from orderhub.models import Order, Warehouse
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[[datetime], dict[str, int]]:
    """The beat task at ``now``, with its after-commit sends executed (eager Celery)."""

    def evaluate(now: datetime) -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            result: dict[str, int] = alerts_evaluate_task(now=now.isoformat())
        return result

    return evaluate


def untracked_orders(warehouse: Warehouse, count: int, *, since: datetime) -> list[int]:
    orders = OrderFactory.create_batch(count, warehouse=warehouse)
    ids = [order.pk for order in orders]
    Order.objects.filter(pk__in=ids).update(status="picked_packed", status_changed_at=since)
    return ids


def configure(code: str, *notifiers: Any, **fields: Any) -> AlertRule:
    rule = AlertRule.objects.get(code=code)
    for name, value in fields.items():
        setattr(rule, name, value)
    return alert_rule_save(rule=rule, notifiers=list(notifiers), user=None, source="test")


def sent(kind: str | None = None) -> list[tuple[str, str, str]]:
    rows = Delivery.objects.order_by("id")
    if kind:
        rows = rows.filter(kind=kind)
    return [(d.kind, d.notifier.code, d.status) for d in rows]


def test_the_default_rules_exist_without_notifiers() -> None:
    rules = list(
        AlertRule.objects.order_by("code").values_list(
            "code", "metric", "comparator", "threshold", "window_minutes"
        )
    )
    assert rules == [
        ("anomalies-escalated", "anomalies_escalated", "gte", Decimal("1.00"), 60),
        (
            "ghost-shipment-deadline-2h",
            "ghost_shipment_deadline_within",
            "gte",
            Decimal("1.00"),
            120,
        ),
        ("health-daily-below-85", "health_score_daily", "lt", Decimal("85.00"), 1440),
        ("orders-without-tracking-2h", "orders_without_tracking", "gt", Decimal("50.00"), 120),
    ]
    assert not AlertRule.objects.filter(notifiers__isnull=False).exists()


def test_orders_without_tracking_fires_one_voice_call_once_and_resolves_once(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    voice = make_notifier(sandbox, "voice", "call-manager")
    configure("orders-without-tracking-2h", voice, recipients=["13900139000"])
    wh_a, wh_b = WarehouseFactory.create(code="WH-A"), WarehouseFactory.create(code="WH-B")
    ids_a = untracked_orders(wh_a, 51, since=T0 - timedelta(hours=3))
    untracked_orders(wh_b, 50, since=T0 - timedelta(hours=3))  # 50 is not "more than 50"
    untracked_orders(wh_b, 5, since=T0 - timedelta(minutes=60))  # not yet 2 hours

    assert run(T0)["opened"] == 1
    [incident] = Incident.objects.all()
    assert (incident.subject_key, incident.status, incident.value, incident.warehouse) == (
        "warehouse:WH-A",
        "open",
        Decimal("51.00"),
        wh_a,
    )
    assert incident.evidence["count"] == 51
    assert sent() == [("opened", "call-manager", "sent")]
    [call] = sandbox.alerts.received["voice"]
    assert call["body"]["CalledNumber"] == "+8613900139000"
    assert call["body"]["SessionContext"] == f"incident-{incident.pk}-opened"

    for minute in (1, 2, 10, 29):  # still true: no second call, no second incident
        assert run(T0 + timedelta(minutes=minute))["opened"] == 0
    assert Incident.objects.count() == 1
    assert len(sandbox.alerts.received["voice"]) == 1

    Order.objects.filter(pk__in=ids_a[:2]).update(tracking_number="SF100")
    assert run(T0 + timedelta(minutes=29, seconds=30))["resolved"] == 1
    assert sent() == [("opened", "call-manager", "sent"), ("resolved", "call-manager", "sent")]
    assert run(T0 + timedelta(minutes=40)) == {
        "rules": 4,
        "opened": 0,
        "resolved": 0,
        "reminded": 0,
        "pending": 0,
        "unavailable": 0,
        "released": 0,
    }
    assert len(sandbox.alerts.received["voice"]) == 2
    assert list(
        LedgerEvent.objects.filter(subject_type="incident", subject_id=str(incident.pk))
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["alerts.incident_opened", "alerts.incident_resolved"]


def test_ghost_shipment_deadline_within_two_hours_fires_once_on_dingtalk(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    dingtalk = make_notifier(sandbox, "dingtalk", "dt-warehouse")
    configure("ghost-shipment-deadline-2h", dingtalk, escalation=[])  # reminders: tested below
    near, far = WarehouseFactory.create(code="WH-N"), WarehouseFactory.create(code="WH-F")
    for warehouse, deadline in ((near, T0 + timedelta(minutes=90)), (far, T0 + timedelta(hours=3))):
        order = OrderFactory.create(warehouse=warehouse)
        Anomaly.objects.create(
            kind="ghost_shipment",
            order=order,
            subject_key=f"order:{order.pk}",
            opened_at=T0,
            evidence_at=T0,
            deadline=deadline,
        )
    assert run(T0)["opened"] == 1
    assert run(T0 + timedelta(minutes=5))["opened"] == 0
    assert list(Incident.objects.values_list("subject_key", "status")) == [
        ("warehouse:WH-N", "open")
    ]
    [message] = sandbox.alerts.received["dingtalk"]
    assert message["body"]["markdown"]["title"].startswith("告警\uff1a")
    # An hour later the far one is within two hours too: its own incident, one message.
    assert run(T0 + timedelta(hours=1, minutes=1))["opened"] == 1
    assert len(sandbox.alerts.received["dingtalk"]) == 2
    Anomaly.objects.update(resolved_at=T0 + timedelta(hours=1, minutes=2))
    assert run(T0 + timedelta(hours=1, minutes=3))["resolved"] == 2
    assert len(sandbox.alerts.received["dingtalk"]) == 4
    assert run(T0 + timedelta(hours=1, minutes=4))["resolved"] == 0


def test_escalated_anomalies_fire_once_per_warehouse_until_they_resolve(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    wecom = make_notifier(sandbox, "wecom", "wecom-ops")
    configure("anomalies-escalated", wecom, escalation=[])
    warehouse = WarehouseFactory.create(code="WH-E")
    escalated, later, repaired = (OrderFactory.create(warehouse=warehouse) for _ in range(3))
    for order, escalate_at in (
        (escalated, T0 - timedelta(minutes=1)),
        (later, T0 + timedelta(minutes=10)),
        (repaired, None),
    ):
        Anomaly.objects.create(
            kind="status_conflict",
            order=order,
            subject_key=f"order:{order.pk}",
            opened_at=T0 - timedelta(minutes=5),
            evidence_at=T0 - timedelta(minutes=5),
            escalate_at=escalate_at,
        )
    assert run(T0)["opened"] == 1
    incident = Incident.objects.get()
    assert (incident.subject_key, incident.status) == ("warehouse:WH-E", "open")
    assert incident.evidence["count"] == 1
    assert run(T0 + timedelta(minutes=11))["opened"] == 0  # the second joins the same incident
    assert len(sandbox.alerts.received["wecom"]) == 1
    Anomaly.objects.filter(order__in=[escalated, later]).update(resolved_at=T0)
    assert run(T0 + timedelta(minutes=12))["resolved"] == 1
    assert len(sandbox.alerts.received["wecom"]) == 2


def test_health_score_rule_is_unavailable_while_its_metric_has_no_function(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    wecom = make_notifier(sandbox, "wecom", "wecom-ops")
    rule = configure("health-daily-below-85", wecom)
    admin = AlertRuleAdmin(AlertRule, None)  # type: ignore[arg-type]
    translation.activate("zh-hans")
    plugged = metrics._functions[HEALTH_SCORE_DAILY]
    assert plugged is health_score_daily_metric  # the health score is plugged in at import
    metrics._functions[HEALTH_SCORE_DAILY] = None
    try:
        assert admin.metric_state(rule) == "指标不可用"
        assert run(T0)["unavailable"] == 1
        assert Incident.objects.count() == 0
    finally:
        metrics._functions[HEALTH_SCORE_DAILY] = plugged
    assert admin.metric_state(rule) == "可用"


def test_daily_health_below_85_fires_once_per_channel_from_the_real_score(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    """The rule reads the real daily score (health.score): shop-1's shipped orders have no
    tracking timeline (score below 85); shop-2 has no data today and says nothing."""
    wecom = make_notifier(sandbox, "wecom", "wecom-ops")
    configure("health-daily-below-85", wecom, escalation=[])
    for number in ("SF1", ""):
        OrderFactory.create(
            channel="shop-1", status="handed_over", shipped_at=T0 - timedelta(minutes=30),
            tracking_number=number,
        )  # fmt: skip
    OrderFactory.create(channel="shop-2", status="placed", placed_at=T0 - timedelta(days=3))
    expected = health_score_daily(T0, "channel")
    assert set(expected) == {"shop-1"}
    shop_1 = expected["shop-1"]
    assert shop_1 is not None
    assert shop_1 < 85
    scores = health_score_daily_metric(T0, Scope(window=timedelta(days=1)))
    assert [(v.subject_key, v.value) for v in scores if v.subject_key.startswith("channel:")] == [
        ("channel:shop-1", Decimal(str(round(shop_1, 2)))),
    ]
    assert run(T0)["opened"] == 1
    assert run(T0 + timedelta(minutes=1))["opened"] == 0
    assert list(Incident.objects.values_list("subject_key", flat=True)) == ["channel:shop-1"]
    [message] = sandbox.alerts.received["wecom"]
    assert f"当前值 {shop_1:g}\uff0c规则 < 85" in message["body"]["markdown"]["content"]


@pytest.fixture
def escalating(sandbox: SandboxAPI) -> AlertRule:
    wecom = make_notifier(sandbox, "wecom", "wecom-ops")
    make_notifier(sandbox, "dingtalk", "dt-boss")
    rule = configure(
        "orders-without-tracking-2h",
        wecom,
        threshold=Decimal("0"),
        escalation=[
            {"after_minutes": 10, "notifiers": []},
            {"after_minutes": 30, "notifiers": ["dt-boss"]},
        ],
    )
    untracked_orders(WarehouseFactory.create(code="WH-A"), 1, since=T0 - timedelta(hours=3))
    return rule


def test_reminders_follow_the_escalation_steps_then_stop(
    escalating: AlertRule, sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    run(T0)
    timeline = {}
    for minute in (9, 10, 11, 29, 30, 31, 60, 240):
        timeline[minute] = run(T0 + timedelta(minutes=minute))["reminded"]
    assert timeline == {9: 0, 10: 1, 11: 0, 29: 0, 30: 1, 31: 0, 60: 0, 240: 0}
    assert Incident.objects.get().escalation_step == 2
    assert sent() == [
        ("opened", "wecom-ops", "sent"),
        ("reminder", "wecom-ops", "sent"),
        ("reminder", "dt-boss", "sent"),
    ]
    assert sandbox.alerts.received["dingtalk"][0]["body"]["markdown"]["title"].startswith("提醒 2")


def test_a_late_run_sends_one_reminder_and_spaces_the_next(
    escalating: AlertRule, run: Callable[[datetime], dict[str, int]]
) -> None:
    run(T0)
    assert run(T0 + timedelta(minutes=45))["reminded"] == 1  # both steps overdue: only one
    assert run(T0 + timedelta(minutes=46))["reminded"] == 0
    assert run(T0 + timedelta(minutes=64))["reminded"] == 0
    assert run(T0 + timedelta(minutes=65))["reminded"] == 1  # 20 minutes after, as the steps
    assert [k for k, _n, _s in sent()] == ["opened", "reminder", "reminder"]


def test_acknowledging_stops_the_escalation_and_is_recorded(
    escalating: AlertRule, sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    run(T0)
    incident = Incident.objects.get()
    boss = User.objects.create_user("ops-boss", is_staff=True)
    acked = incident_acknowledge(incident=incident, user=boss, now=T0 + timedelta(minutes=5))
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        boss,
        T0 + timedelta(minutes=5),
    )
    again = incident_acknowledge(incident=incident, user=User.objects.create_user("late"))
    assert again.acknowledged_by == boss  # the first acknowledgement stands
    for minute in (10, 30, 60):
        assert run(T0 + timedelta(minutes=minute))["reminded"] == 0
    assert sent() == [("opened", "wecom-ops", "sent")]
    event = LedgerEvent.objects.get(action="alerts.incident_acknowledged")
    assert (event.actor, event.subject_id) == ("ops-boss", str(incident.pk))
    # Resolution still tells people, once.
    Order.objects.update(tracking_number="SF1")
    assert run(T0 + timedelta(minutes=61))["resolved"] == 1
    assert sent() == [("opened", "wecom-ops", "sent"), ("resolved", "wecom-ops", "sent")]


def test_the_ack_link_needs_staff_login_and_a_valid_token(
    escalating: AlertRule, run: Callable[[datetime], dict[str, int]]
) -> None:
    run(T0)
    incident = Incident.objects.get()
    path = ack_url(incident).split("://", 1)[1].split("/", 1)[1]
    path = "/" + path
    client = Client()
    assert client.get(path).status_code == 302  # to the login page
    staff = User.objects.create_user("ops", is_staff=True)
    client.force_login(staff)
    assert client.get(path).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "open"  # opening the link changes nothing
    assert client.get(path[:-3] + "xx/").status_code == 404
    other = User.objects.create_user("wh-b", is_staff=True)
    WarehouseFactory.create(code="WH-B").staff.add(other)
    outsider = Client()
    outsider.force_login(other)
    assert outsider.post(path).status_code == 404
    assert incidents_open_for(other) == []
    assert client.post(path).status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", staff)
    assert run(T0 + timedelta(minutes=10))["reminded"] == 0


def test_hold_for_waits_and_a_breach_that_clears_first_says_nothing(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    configure(
        "orders-without-tracking-2h",
        make_notifier(sandbox, "wecom"),
        threshold=Decimal("0"),
        hold_for_minutes=20,
    )
    ids = untracked_orders(WarehouseFactory.create(code="WH-A"), 1, since=T0 - timedelta(hours=3))
    assert run(T0)["pending"] == 1
    assert run(T0 + timedelta(minutes=10))["pending"] == 1
    Order.objects.filter(pk__in=ids).update(tracking_number="SF1")
    assert run(T0 + timedelta(minutes=15))["resolved"] == 0
    assert Incident.objects.count() == 0
    Order.objects.filter(pk__in=ids).update(tracking_number="")
    assert run(T0 + timedelta(minutes=16))["pending"] == 1
    assert run(T0 + timedelta(minutes=35))["pending"] == 1
    assert run(T0 + timedelta(minutes=36))["opened"] == 1
    assert sent() == [("opened", "wecom-ops", "sent")]
    assert Incident.objects.get().opened_at == T0 + timedelta(minutes=36)


def test_quiet_hours_hold_warnings_until_they_end(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    configure(
        "ghost-shipment-deadline-2h",
        make_notifier(sandbox, "wecom"),
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
    )
    night = datetime(2026, 3, 2, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    order = OrderFactory.create(warehouse=WarehouseFactory.create(code="WH-A"))
    Anomaly.objects.create(
        kind="ghost_shipment",
        order=order,
        subject_key=f"order:{order.pk}",
        opened_at=night,
        evidence_at=night,
        deadline=night + timedelta(hours=1),
    )
    assert run(night)["opened"] == 1
    assert sent() == [("opened", "wecom-ops", "held")]
    assert run(night + timedelta(hours=7, minutes=59))["released"] == 0
    assert sandbox.alerts.received["wecom"] == []
    assert run(night + timedelta(hours=8))["released"] == 1  # 07:00
    assert sent() == [("opened", "wecom-ops", "sent")]
    assert len(sandbox.alerts.received["wecom"]) == 1
    # The first reminder counts from 07:00, when the opening message left.
    assert run(night + timedelta(hours=8, minutes=29))["reminded"] == 0
    assert run(night + timedelta(hours=8, minutes=30))["reminded"] == 1
    assert sent() == [("opened", "wecom-ops", "sent"), ("reminder", "wecom-ops", "sent")]


def test_quiet_hours_resolution_before_the_end_sends_nothing(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    configure(
        "ghost-shipment-deadline-2h",
        make_notifier(sandbox, "wecom"),
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
    )
    night = datetime(2026, 3, 2, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    order = OrderFactory.create(warehouse=WarehouseFactory.create(code="WH-A"))
    anomaly = Anomaly.objects.create(
        kind="ghost_shipment",
        order=order,
        subject_key="order:1",
        opened_at=night,
        evidence_at=night,
        deadline=night + timedelta(hours=1),
    )
    run(night)
    anomaly.resolved_at = night + timedelta(minutes=30)
    anomaly.save()
    assert run(night + timedelta(minutes=31))["resolved"] == 1
    assert run(night + timedelta(hours=9))["released"] == 0
    assert sent() == [("opened", "wecom-ops", "cancelled")]
    assert sandbox.alerts.received["wecom"] == []


def test_critical_rules_ring_in_quiet_hours(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    configure(
        "orders-without-tracking-2h",
        make_notifier(sandbox, "voice", "call"),
        threshold=Decimal("0"),
        recipients=["13900139000"],
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
    )
    night = datetime(2026, 3, 2, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    untracked_orders(WarehouseFactory.create(code="WH-A"), 1, since=night - timedelta(hours=3))
    run(night)
    assert sent() == [("opened", "call", "sent")]


def test_a_disabled_notifier_is_never_called_and_says_so(
    sandbox: SandboxAPI, run: Callable[[datetime], dict[str, int]]
) -> None:
    wecom = make_notifier(sandbox, "wecom")
    wecom.enabled = False
    wecom.save()
    configure("orders-without-tracking-2h", wecom, threshold=Decimal("0"))
    untracked_orders(WarehouseFactory.create(code="WH-A"), 1, since=T0 - timedelta(hours=3))
    run(T0)
    [delivery] = Delivery.objects.all()
    assert (delivery.status, delivery.error) == ("cancelled", "notifier disabled (not configured)")
    assert sandbox.calls["wecom.robot_send"] == 0


def test_rule_changes_are_audited_and_validated(sandbox: SandboxAPI) -> None:
    from health.alerts.exceptions import AlertError

    before = AlertRule.history.filter(code="ghost-shipment-deadline-2h").count()
    rule = configure(
        "ghost-shipment-deadline-2h", make_notifier(sandbox, "wecom"), threshold=Decimal("2")
    )
    event = LedgerEvent.objects.filter(action="alerts.rule_saved").latest("id")
    assert (event.before["threshold"], event.after["threshold"]) == ("1.00", "2")
    assert event.after["notifiers"] == ["wecom-ops"]
    assert rule.history.count() > before
    assert rule.history.latest().threshold == Decimal("2")
    rule.metric = "no_such_metric"
    with pytest.raises(AlertError, match="unknown metric"):
        alert_rule_save(rule=rule, notifiers=None, user=None)
    rule.metric = "ghost_shipment_deadline_within"
    rule.escalation = [{"after_minutes": 30}, {"after_minutes": 10}]
    with pytest.raises(AlertError, match="must grow"):
        alert_rule_save(rule=rule, notifiers=None, user=None)


def test_now_moves_in_the_injected_clock_only() -> None:
    assert abs(timezone.now() - T0) > timedelta(days=1)  # the tests above never used real time
