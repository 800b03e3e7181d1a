"""The health board in Chromium with the demo data: charts drawn with data, the top-10 links
to the order's page, the review button records a decision, a warehouse manager sees only
their warehouse (also at the URL level). Screenshots in test-results/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect

from health.alerts.models import AlertRule, Incident
from health.demo import demo_feedback_load
from health.models import Anomaly, AnomalyReview
from health.rollup import score_daily_rollup, score_rollup_due
from health.services import anomalies_evaluate_locked
from orderhub.demo import demo_load
from orderhub.models import Order, Warehouse
from traceability.models import LedgerEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_SERIES = """(kind) => {
  const element = document.querySelector(`[data-chart="${kind}"]`);
  const chart = element && window.echarts.getInstanceByDom(element);
  if (!chart) return null;
  return {
    canvas: element.querySelectorAll("canvas").length,
    points: chart.getOption().series.reduce((n, s) => n + (s.data || []).length, 0),
  };
}"""

# The provinces the complaints name, each checked against the shipped map's region names.
MAP_NAMES = """() => {
  const data = JSON.parse(document.getElementById("map-data").textContent).data;
  const features = window.echarts.getMap("china").geoJSON.features;
  const known = new Set(features.map(f => f.properties.name));
  return data.map(d => [d.name, known.has(d.name)]);
}"""


@pytest.fixture
def demo() -> dict[str, Any]:
    demo_load(orders=150, now=timezone.now())
    demo_feedback_load()
    # The demo seed is healthy (it opens no anomaly): a day later the time-based rules find
    # what the seed's open orders have not done by then (deadlines passed, no scans).
    with transaction.atomic():
        ids = list(Order.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        anomalies_evaluate_locked(order_ids=ids, now=timezone.now() + timedelta(days=1))
    # The funnel counts orders placed today (the board's time zone): early in the day the
    # seed's timeline may have placed none yet, so each warehouse's newest order is placed
    # a few minutes ago whatever the hour the suite runs at.
    for warehouse in Warehouse.objects.all():
        newest = Order.objects.filter(warehouse=warehouse).order_by("-placed_at").first()
        if newest is not None:
            Order.objects.filter(pk=newest.pk).update(
                placed_at=timezone.now() - timedelta(minutes=5)
            )
    for day in score_rollup_due(now=timezone.now()):
        score_daily_rollup(day=day)
    User = get_user_model()
    User.objects.create_superuser("ops", password="s3cret-pass")
    manager = User.objects.create_user("wh-sh", password="s3cret-pass", is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename="view_order"))
    Warehouse.objects.get(code="WH-SH").staff.add(manager)
    now = timezone.now()
    rule = AlertRule.objects.create(
        code="board-browser-untracked", name="Orders without tracking", metric="orders_untracked",
        comparator="gt", threshold=Decimal("50"), escalation=[{"after_minutes": 30}],
    )  # fmt: skip
    incidents = {
        code: Incident.objects.create(
            rule=rule,
            subject_key=f"warehouse:{code}",
            warehouse=Warehouse.objects.get(code=code),
            status="open",
            value=Decimal("61"),
            breach_started_at=now - timedelta(hours=2),
            opened_at=now - timedelta(minutes=minutes),
            ack_nonce=f"n-{code}",
            next_reminder_at=now + timedelta(minutes=30),
        )
        for code, minutes in (("WH-SH", 20), ("WH-GZ", 10))
    }
    return {"incidents": incidents}


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")


def wait_for_charts(page: Page) -> None:
    for kind in ("funnel", "map", "trends"):
        expect(page.locator(f'[data-chart="{kind}"][data-rendered="true"]')).to_have_count(1)


def test_board_draws_its_charts_and_records_a_review(
    live_server: Any, page: Page, demo: Any
) -> None:
    assert Anomaly.objects.filter(resolved_at__isnull=True).exists()
    log_in(page, live_server.url, "ops")
    page.goto(f"{live_server.url}/board/")
    expect(page.locator("h1")).to_contain_text("健康看板")
    wait_for_charts(page)
    for kind in ("funnel", "map", "trends"):
        drawn = page.evaluate(CHART_SERIES, kind)
        assert drawn["canvas"] >= 1, kind
        assert drawn["points"] > 0, kind
    names = page.evaluate(MAP_NAMES)
    assert names
    assert all(known for _name, known in names), names
    entries = page.locator(".top-entry")
    expect(entries.first).to_be_visible()
    assert entries.count() == 10
    page.screenshot(path="test-results/board-zh.png", full_page=True)

    first = entries.first
    anomaly_id = int(first.get_attribute("data-anomaly") or 0)
    order_id = Anomaly.objects.get(pk=anomaly_id).order_id
    assert first.locator("a.order-link").get_attribute("href") == f"/orders/{order_id}/"

    first.locator("button.decision-false_alarm").click()
    expect(
        page.locator(f'.top-entry[data-anomaly="{anomaly_id}"] .last-decision')
    ).to_have_attribute("data-decision", "false_alarm")
    review = AnomalyReview.objects.get()
    assert (review.anomaly_id, review.decision, review.reviewed_by.get_username()) == (  # type: ignore[union-attr]
        anomaly_id, "false_alarm", "ops"
    )  # fmt: skip
    assert (
        LedgerEvent.objects.filter(action="health.anomaly_reviewed", order_id=order_id).count() == 1
    )

    # Open alerts: both warehouses' incidents, newest first; acknowledging one records who.
    alerts = page.locator(".alert-entry")
    expect(alerts).to_have_count(2)
    sh_incident = demo["incidents"]["WH-SH"]
    assert alerts.evaluate_all("(els) => els.map(e => e.getAttribute('data-incident'))") == [
        str(demo["incidents"]["WH-GZ"].pk), str(sh_incident.pk)
    ]  # fmt: skip
    row = page.locator(f'.alert-entry[data-incident="{sh_incident.pk}"]')
    expect(row.locator(".alert-value")).to_contain_text("61.00")
    row.locator("button.acknowledge-button").click()
    expect(page.locator(f'.alert-entry[data-incident="{sh_incident.pk}"]')).to_have_attribute(
        "data-status", "acknowledged"
    )
    sh_incident.refresh_from_db()
    assert (sh_incident.status, sh_incident.acknowledged_by.get_username()) == (
        "acknowledged", "ops"
    )  # fmt: skip
    assert Incident.objects.get(pk=demo["incidents"]["WH-GZ"].pk).status == "open"
    page.screenshot(path="test-results/board-alerts.png", full_page=True)

    page.select_option(".lang select", "en")
    expect(page.locator("h1")).to_contain_text("Health board")
    wait_for_charts(page)
    page.screenshot(path="test-results/board-en.png", full_page=True)


def test_warehouse_manager_sees_only_their_warehouse(
    live_server: Any, page: Page, demo: Any
) -> None:
    shanghai = Warehouse.objects.get(code="WH-SH")
    log_in(page, live_server.url, "wh-sh")
    page.goto(f"{live_server.url}/en/board/")
    wait_for_charts(page)
    expect(page.locator(".top-entry").first).to_be_visible()
    ids = [int(x or 0) for x in page.locator(".top-entry").evaluate_all(
        "(els) => els.map(e => e.getAttribute('data-anomaly'))")]  # fmt: skip
    assert ids
    warehouses = set(
        Anomaly.objects.filter(pk__in=ids).values_list("order__warehouse_id", flat=True)
    )
    assert warehouses == {shanghai.pk}
    expect(page.locator("select[name=warehouse] option")).to_have_count(1)
    shown = page.locator(".alert-entry").evaluate_all(
        "(els) => els.map(e => e.getAttribute('data-incident'))"
    )
    assert shown == [str(demo["incidents"]["WH-SH"].pk)]
    page.screenshot(path="test-results/board-warehouse-manager.png", full_page=True)

    other = page.goto(f"{live_server.url}/en/board/panel/top/?warehouse=WH-GZ")
    assert other is not None
    assert other.status == 404
    other_page = page.goto(f"{live_server.url}/en/board/?warehouse=WH-GZ")
    assert other_page is not None
    assert other_page.status == 404
