"""A person in Chromium: logs in, finds an order, moves it, switches the language."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from orderhub.choices import Milestone
from orderhub.models import Order
from tests.factories import OrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_supervisor_finds_an_order_by_phone_tail_and_marks_it_paid(live_server, page: Page) -> None:
    get_user_model().objects.create_superuser("ops", password="s3cret-pass")
    order = OrderFactory.create(external_id="DY2611250001", phone_tail="5678", buyer_name="李雷")
    OrderFactory.create(external_id="DY2611250002", phone_tail="1111")
    log_in(page, live_server.url, "ops", "s3cret-pass")

    page.goto(f"{live_server.url}/en/admin/orderhub/order/?q=5678")
    expect(page.locator("#result_list")).to_contain_text("DY2611250001")
    expect(page.locator("#result_list")).not_to_contain_text("DY2611250002")
    page.click("text=DY2611250001")

    expect(page.locator(".order-status")).to_have_text("Placed")
    page.get_by_role("button", name="Mark paid").click()
    expect(page.locator(".messagelist")).to_contain_text("moved to paid")
    expect(page.locator(".order-status")).to_have_text("Paid")
    assert Order.objects.get(pk=order.pk).status == Milestone.PAID
    page.screenshot(path="test-results/admin-order-paid.png", full_page=True)


def test_interface_is_chinese_by_default_and_switches_to_english(live_server, page: Page) -> None:
    get_user_model().objects.create_superuser("ops", password="s3cret-pass")
    OrderFactory.create(external_id="PDD-1")
    log_in(page, live_server.url, "ops", "s3cret-pass")
    page.goto(f"{live_server.url}/admin/orderhub/order/")
    expect(page.locator("#content h1")).to_contain_text("选择 订单 来修改")
    page.select_option("#language-switch select", "en")
    expect(page.locator("#content h1")).to_contain_text("Select order to change")
    assert page.url.endswith("/en/admin/orderhub/order/")
