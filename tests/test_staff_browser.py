"""A person in Chromium on the demo data: opens an order's story, presses an action button,
reads the self-check, switches the language and finds it kept on a URL without a prefix; a
warehouse manager cannot open another warehouse's order. Screenshots go to test-results/."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings as SettingsWrapper

from orderhub.choices import Milestone, Priority
from orderhub.demo import demo_load
from orderhub.models import Order, Warehouse
from traceability.models import LedgerEvent
from traceability.selectors import order_trace
from traceability.story import story_lines

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("test-results")


@pytest.fixture(autouse=True)
def demo(settings: SettingsWrapper, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(key).decode()
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    demo_load(orders=24)
    SHOTS.mkdir(exist_ok=True)


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_supervisor_reads_an_orders_story_and_presses_a_button(live_server, page: Page) -> None:
    get_user_model().objects.create_superuser("ops", password="s3cret-pass")
    order = Order.objects.filter(status=Milestone.DELIVERED).order_by("id").first()
    assert order is not None
    log_in(page, live_server.url, "ops", "s3cret-pass")

    page.goto(f"{live_server.url}/orders/{order.pk}/")
    expect(page.locator("#summary .summary-where")).to_contain_text("当前“已签收”")
    expect(page.locator("#systems tr.source")).to_have_count(5)
    expect(page.locator("#systems tr.source-channel")).to_contain_text("已签收")
    # Each status fact is told on exactly one line, and no ledger key reaches the screen.
    texts = page.locator("#timeline tr.line td.what").all_inner_texts()
    # (A courier scan's fact is told on its tracking event's line, by the scan's words.)
    told_by_status = order.facts.exclude(system__contains="courier").values_list(
        "raw_status", flat=True
    )
    for raw, count in Counter(told_by_status).items():
        assert sum(f"“{raw}”" in text for text in texts) == count, raw
    assert len(texts) == len(story_lines(order=order))
    assert len(texts) * 3 < len(order_trace(order=order).entries)
    for key in ("occurred_at", "fact.recorded", "order.transition"):
        expect(page.locator("#timeline")).not_to_contain_text(key)
    page.screenshot(path=str(SHOTS / "staff-order-story.png"), full_page=True)

    page.select_option("#order-actions select[name=priority]", str(Priority.HIGH))
    page.fill("#order-actions form:has(select[name=priority]) input[name=reason]", "VIP 客户")
    page.get_by_role("button", name="设置优先级").click()
    expect(page.locator("ul.messages")).to_contain_text("订单已更新")
    expect(page.locator("#timeline tr.line", has_text="原因\uff1aVIP 客户")).to_have_count(1)
    assert Order.objects.get(pk=order.pk).priority == Priority.HIGH
    event = LedgerEvent.objects.filter(order_id=order.pk).latest("id")
    assert (event.action, event.actor, event.source_system) == (
        "order.priority_set", "ops", "staff",
    )  # fmt: skip
    page.screenshot(path=str(SHOTS / "staff-order-after-action.png"), full_page=True)

    # From the admin's order page and from the trace, a link leads to the story.
    page.goto(f"{live_server.url}/admin/orderhub/order/{order.pk}/change/")
    page.click("#staff-order-link")
    expect(page).to_have_url(f"{live_server.url}/orders/{order.pk}/")


def test_self_check_and_a_language_choice_that_sticks(live_server, page: Page) -> None:
    get_user_model().objects.create_superuser("ops", password="s3cret-pass")
    log_in(page, live_server.url, "ops", "s3cret-pass")
    page.goto(f"{live_server.url}/self-check/")
    expect(page.locator("h1")).to_have_text("订单健康自检")
    expect(page.locator("#self-check-items tr.item")).to_have_count(10)
    score = page.locator("#self-check-score").inner_text()
    passed = page.locator("#self-check-items tr.item.passed").count()
    assert score == f"{passed}/10"
    page.screenshot(path=str(SHOTS / "self-check-zh.png"), full_page=True)

    with page.expect_navigation(url=f"{live_server.url}/en/self-check/"):
        page.select_option("header.top select[name=language]", "en")
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1")).to_have_text("Order-health self-check")
    # A bookmark without the /en/ prefix keeps the choice.
    page.goto(f"{live_server.url}/self-check/")
    expect(page.locator("h1")).to_have_text("Order-health self-check")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#daily-work h2")).to_have_text("Daily work")
    page.screenshot(path=str(SHOTS / "admin-index-en.png"), full_page=True)
    # And back to Chinese, kept as well.
    with page.expect_navigation(url=f"{live_server.url}/admin/"):
        page.select_option("#language-switch select", "zh-hans")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/self-check/")
    expect(page.locator("h1")).to_have_text("订单健康自检")


def test_a_warehouse_manager_cannot_open_another_warehouses_order(live_server, page: Page) -> None:
    manager = get_user_model().objects.create_user("wh-sh", password="s3cret-pass", is_staff=True)
    manager.user_permissions.set(
        Permission.objects.filter(codename__in=["view_order", "change_order", "set_priority"])
    )
    Warehouse.objects.get(code="WH-SH").staff.add(manager)
    own = Order.objects.filter(warehouse__code="WH-SH").order_by("id").first()
    other = Order.objects.exclude(warehouse__code="WH-SH").exclude(warehouse=None).first()
    assert own is not None
    assert other is not None
    log_in(page, live_server.url, "wh-sh", "s3cret-pass")
    response = page.goto(f"{live_server.url}/orders/{other.pk}/")
    assert response is not None
    assert response.status == 404
    page.screenshot(path=str(SHOTS / "staff-order-other-warehouse-404.png"))
    response = page.goto(f"{live_server.url}/orders/{own.pk}/")
    assert response is not None
    assert response.status == 200
    expect(page.locator("h1")).to_contain_text(own.external_id)
