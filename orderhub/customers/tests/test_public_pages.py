"""The public order page and the look-up: tokens, no enumeration, rate limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from orderhub.choices import Milestone, TrackingStage
from orderhub.customers.models import RiskReview
from orderhub.customers.services.tokens import order_link_create
from orderhub.models import Order, StockShortage, TrackingEvent, Warehouse
from tests.factories import OrderFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db


def link_token(order: Order) -> str:
    url = order_link_create(order_id=order.pk, now=timezone.now())
    return url.rstrip("/").rsplit("/", 1)[1]


def shipped_order() -> Order:
    order = OrderFactory.create(
        external_id="SO-2001", phone_tail="5678", receiver_name="李雷",
        receiver_phone="13900005678",
        carrier="SF", tracking_number="SF1234567890",
        placed_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    Order.objects.filter(pk=order.pk).update(status=Milestone.COLLECTED)
    now = timezone.now()
    for minutes, stage, text in (
        (90, TrackingStage.IN_TRANSIT, "快件已到达上海转运中心"),
        (30, TrackingStage.EXCEPTION, "收件地址不详，等待联系"),  # noqa: RUF001
    ):
        TrackingEvent.objects.create(
            order=order, system="kuaidi100:t", carrier="SF", tracking_number="SF1234567890",
            occurred_at=now - timedelta(minutes=minutes), received_at=now, stage=stage,
            raw_state="x", description=text, dedupe_key=f"k{minutes}",
        )  # fmt: skip
    return order


def test_order_page_shows_milestones_tracking_and_what_is_wrong_in_plain_words() -> None:
    order = shipped_order()
    OrderFactory.create(external_id="SO-OTHER", receiver_name="韩梅梅", phone_tail="1111")
    page = Client().get(f"/o/{link_token(order)}/", HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert page.status_code == 200
    assert "SO-2001" in body
    assert "Collected by carrier" in body
    assert "快件已到达上海转运中心" in body
    assert "The courier reported a problem: 收件地址不详，等待联系" in body  # noqa: RUF001
    assert "We are following it up with the courier." in body
    assert "李*" in body
    assert "李雷" not in body
    assert "13900005678" not in body
    assert "SO-OTHER" not in body
    assert "韩梅梅" not in body
    assert "<script" not in body


def test_order_page_in_chinese_explains_a_stock_shortage() -> None:
    order = OrderFactory.create()
    Order.objects.filter(pk=order.pk).update(status=Milestone.PAID)
    warehouse = Warehouse.objects.create(code="WH-S", name="S")
    StockShortage.objects.create(
        order=order, sku="SKU-1", warehouse=warehouse, missing=1, opened_at=timezone.now()
    )
    body = Client().get(f"/o/{link_token(order)}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = body.content.decode()
    assert "部分商品仓库暂时缺货" in text
    assert "我们正在补货，到货后会尽快发货。" in text  # noqa: RUF001


def test_unknown_and_wrong_tokens_give_byte_identical_answers() -> None:
    order = shipped_order()
    real = link_token(order)
    client = Client()
    unknown = client.get("/o/" + "A" * 43 + "/")
    wrong = client.get("/o/" + real[:-1] + ("B" if real[-1] != "B" else "C") + "/")
    confirm_token_on_order_page = client.get("/c/" + real + "/")  # an order token, wrong page
    unknown_confirm = client.get("/c/" + "A" * 43 + "/")
    assert unknown.status_code == wrong.status_code == 404
    assert unknown.content == wrong.content == confirm_token_on_order_page.content
    assert unknown_confirm.content == unknown.content
    assert dict(unknown.headers) == dict(wrong.headers)
    assert "Set-Cookie" not in unknown.headers


def test_expired_link_is_the_same_not_found() -> None:
    order = shipped_order()
    url = order_link_create(order_id=order.pk, now=timezone.now() - timedelta(days=91))
    token = url.rstrip("/").rsplit("/", 1)[1]
    expired = Client().get(f"/o/{token}/")
    unknown = Client().get("/o/" + "Z" * 43 + "/")
    assert expired.status_code == 404
    assert expired.content == unknown.content


def test_lookup_by_number_and_phone_tail_and_no_enumeration() -> None:
    shipped_order()
    client = Client()
    found = client.post("/o/", {"order_number": "SO-2001", "phone_tail": "5678"},
                        HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert found.status_code == 200
    assert b"SF1234567890" in found.content
    wrong_tail = client.post("/o/", {"order_number": "SO-2001", "phone_tail": "5679"})
    unknown = client.post("/o/", {"order_number": "SO-9999", "phone_tail": "5678"})
    partial = client.post("/o/", {"order_number": "SO-2001", "phone_tail": ""})
    assert wrong_tail.status_code == unknown.status_code == partial.status_code == 404
    assert wrong_tail.content == unknown.content == partial.content
    assert dict(wrong_tail.headers) == dict(unknown.headers)
    assert b"SO-2001" not in wrong_tail.content


def test_lookup_is_rate_limited_per_order_and_per_ip(settings: Any) -> None:
    settings.PUBLIC_RATE_PER_ORDER = "3/m"
    settings.PUBLIC_RATE_PER_IP = "5/m"
    shipped_order()
    guesses = [
        Client().post("/o/", {"order_number": "SO-2001", "phone_tail": f"{n:04d}"},
                      REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(4)
    ]  # fmt: skip
    assert guesses == [404, 404, 404, 429]
    # The right answer is refused too while the order's budget is spent.
    right = Client().post("/o/", {"order_number": "SO-2001", "phone_tail": "5678"})
    assert right.status_code == 429
    # One IP trying many orders is stopped by the per-IP limit.
    per_ip = [
        Client().post("/o/", {"order_number": f"SO-X{n}", "phone_tail": "0000"},
                      REMOTE_ADDR="10.9.9.9").status_code
        for n in range(6)
    ]  # fmt: skip
    assert per_ip == [404, 404, 404, 404, 404, 429]


def test_token_pages_are_rate_limited_per_link(settings: Any) -> None:
    settings.PUBLIC_RATE_PER_ORDER = "2/m"
    token = link_token(shipped_order())
    codes = [Client().get(f"/o/{token}/", REMOTE_ADDR=f"10.1.0.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_order_under_risk_review_asks_the_customer_for_the_purpose() -> None:
    order = shipped_order()
    Order.objects.filter(pk=order.pk).update(status=Milestone.PAID)
    RiskReview.objects.create(order=order, opened_at=timezone.now())
    token = link_token(order)
    page = Client().get(f"/o/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "what is the purchase for?" in page
    assert "being checked by our customer service" in page
    Client().post(f"/o/{token}/", {"purpose": "公司年会礼品"})
    Client().post(f"/o/{token}/", {"purpose": "改一下"})  # only the first answer is kept
    review = RiskReview.objects.get()
    assert (review.purpose, review.status) == ("公司年会礼品", "open")
    assert LedgerEvent.objects.get(action="order.risk_review_purpose").after["purpose"] == (
        "公司年会礼品"
    )
    after = Client().get(f"/o/{token}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "what is the purchase for?" not in after
