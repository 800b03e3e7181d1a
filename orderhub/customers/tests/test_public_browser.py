"""A customer on a phone: confirms an order from the message link; finds an order by number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize, expect

from orderhub.choices import Milestone, TrackingStage
from orderhub.customers.models import ConfirmationRequest
from orderhub.customers.services.confirmation import (
    confirmation_request_open,
    confirmation_rule_save,
)
from orderhub.models import Order, TrackingEvent

from .conftest import stocked_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = Path("test-results")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="zh-CN",
    )  # fmt: skip
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_customer_confirms_on_a_phone(live_server: Any, phone: Page) -> None:
    confirmation_rule_save(
        rule_id=None, values={"name": "high value", "min_total": Decimal("500")}, user=None
    )
    order = stocked_order(total="800.00", external_id="SO-3001")
    Order.objects.filter(pk=order.pk).update(status=Milestone.STOCK_LOCKED)
    opened = confirmation_request_open(order_id=order.pk, now=timezone.now())
    assert opened is not None
    _request, token = opened

    phone.goto(f"{live_server.url}/c/{token}/")
    expect(phone.locator("h1")).to_contain_text("确认您的订单 SO-3001")
    expect(phone.locator(".goods")).to_contain_text("定制T恤")
    no_horizontal_scroll(phone)
    SHOTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(SHOTS / "public-confirm-phone.png"), full_page=True)

    phone.get_by_role("button", name="确认无误，请发货").click()  # noqa: RUF001
    expect(phone.locator(".done.confirmed")).to_contain_text("您的订单已确认")
    phone.screenshot(path=str(SHOTS / "public-confirm-phone-done.png"), full_page=True)
    assert ConfirmationRequest.objects.get().confirmed_at is not None

    phone.click("text=English")
    expect(phone.locator(".done.confirmed")).to_contain_text("your order is confirmed")


def test_customer_finds_an_order_by_number_and_phone_tail(live_server: Any, phone: Page) -> None:
    order = stocked_order(
        external_id="SO-3002", phone_tail="5678", carrier="SF", tracking_number="SF998877"
    )
    Order.objects.filter(pk=order.pk).update(status=Milestone.COLLECTED)
    now = timezone.now()
    TrackingEvent.objects.create(
        order=order, system="kuaidi100:t", carrier="SF", tracking_number="SF998877",
        occurred_at=now - timedelta(hours=2), received_at=now, stage=TrackingStage.IN_TRANSIT,
        raw_state="0", description="快件已从杭州发出", dedupe_key="e1",
    )  # fmt: skip

    phone.goto(f"{live_server.url}/o/")
    phone.fill("#order_number", "SO-3002")
    phone.fill("#phone_tail", "1234")
    phone.get_by_role("button", name="查看我的订单").click()
    expect(phone.locator("h1")).to_have_text("未找到订单")

    phone.fill("#order_number", "SO-3002")
    phone.fill("#phone_tail", "5678")
    phone.get_by_role("button", name="查看我的订单").click()
    expect(phone.locator(".tracking")).to_contain_text("快件已从杭州发出")
    expect(phone.locator(".milestones li.current")).to_contain_text("已揽收")
    expect(phone.locator("h1")).to_have_text("订单 SO-3002")
    expect(phone.locator(".tracking")).to_contain_text("运输中")
    no_horizontal_scroll(phone)
    phone.screenshot(path=str(SHOTS / "public-order-phone.png"), full_page=True)
