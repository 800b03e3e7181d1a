"""Confirmation before shipping, end to end: rule → message → click → order goes on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.sandbox_api.server import SandboxAPI
from orderhub.choices import Milestone
from orderhub.customers.models import (
    ConfirmationRequest,
    CustomerMessage,
    EscalatedConfirmation,
)
from orderhub.customers.services.confirmation import (
    confirmation_request_open,
    confirmation_rule_save,
    orders_ready_for_warehouse,
)
from orderhub.customers.services.sweep import confirmations_sweep
from orderhub.models import Offer, Order, StockReservation
from orderhub.services import order_transition
from traceability.models import LedgerEvent

from .conftest import OPENID, stocked_order

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0"


def high_value_rule() -> None:
    confirmation_rule_save(
        rule_id=None, values={"name": "high value", "min_total": Decimal("500.00")}, user=None
    )


def pay(order: Order, capture: Any) -> None:
    with capture(execute=True):
        order_transition(order_id=order.pk, target=Milestone.PAID)


def token_of(message: dict[str, Any]) -> str:
    url = str(message["url"])
    assert url.startswith("https://track.example.com/c/")
    return url.removeprefix("https://track.example.com/c/").rstrip("/")


def test_selected_order_waits_message_sent_click_confirms_and_order_goes_on(
    eager: None, wechat: SandboxAPI, django_capture_on_commit_callbacks: Any
) -> None:
    high_value_rule()
    order = stocked_order(total="800.00", external_id="SO-1001")
    pay(order, django_capture_on_commit_callbacks)

    order.refresh_from_db()
    assert order.status == Milestone.AWAITING_CONFIRMATION
    # Offered at stock_locked, withdrawn while the customer is asked: no warehouse may take it.
    assert Offer.objects.filter(order=order, withdrawn_at__isnull=True).count() == 0
    [sent] = wechat.wechat_mp.sent
    token = token_of(sent)
    assert len(token) == 43
    assert sent == {
        "touser": OPENID,
        "template_id": "TPL-confirm-1",
        "url": f"https://track.example.com/c/{token}/",
        "data": {
            "first": {"value": "请确认您的订单后我们再发货"},
            "keyword1": {"value": "SO-1001"},
            "keyword2": {"value": "定制T恤 x2、帽子 x1"},
            "keyword3": {"value": sent["data"]["keyword3"]["value"]},
            "keyword4": {"value": "https://track.example.com/static/public/goods.svg"},
            "remark": {"value": "点击消息一键确认，或说明原因取消订单。"},  # noqa: RUF001
        },
        "msgid": 2000000001,
    }
    message = CustomerMessage.objects.get()
    assert (message.kind, message.outcome, message.response_status) == ("confirm", "sent", 200)
    assert token not in message.request_body  # only the hash of the token is kept
    assert message.url == f"{wechat.url}/cgi-bin/message/template/send"
    request = ConfirmationRequest.objects.get()
    assert request.order_id == order.pk
    assert request.is_open

    page = Client().get(f"/c/{token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "定制T恤" in page.content.decode()
    assert "Confirm, please ship" in page.content.decode()
    assert b"<script" not in page.content

    answer = Client().post(
        f"/c/{token}/", {"action": "confirm"}, HTTP_USER_AGENT=UA, REMOTE_ADDR="10.1.2.3",
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert answer.status_code == 200
    assert b"your order is confirmed" in answer.content
    request.refresh_from_db()
    assert request.confirmed_at is not None
    assert request.refused_at is None
    assert request.device["user_agent"] == UA
    assert len(request.device["ip_hash"]) == 64
    assert "10.1.2.3" not in str(request.device)
    event = LedgerEvent.objects.get(action="order.customer_confirmed")
    assert (event.order_id, event.actor) == (order.pk, "customer")
    assert event.after == {"confirmed_at": request.confirmed_at.isoformat(), **request.device}

    order.refresh_from_db()
    # Confirmed: still held (stock reserved) and now ready for a warehouse to claim.
    assert order.status == Milestone.AWAITING_CONFIRMATION
    assert StockReservation.objects.filter(order=order, status="reserved").count() == 2
    assert list(orders_ready_for_warehouse().values_list("pk", flat=True)) == [order.pk]
    assert list(
        Offer.objects.filter(order=order, withdrawn_at__isnull=True).values_list(
            "warehouse__code", flat=True
        )
    ) == ["WH-A"]
    order_transition(order_id=order.pk, target=Milestone.WAREHOUSE_ACCEPTED)
    order.refresh_from_db()
    assert order.status == Milestone.WAREHOUSE_ACCEPTED

    # A second click changes nothing.
    Client().post(f"/c/{token}/", {"action": "confirm"}, REMOTE_ADDR="10.9.9.9")
    assert LedgerEvent.objects.filter(action="order.customer_confirmed").count() == 1


def test_order_no_rule_selects_goes_straight_on_and_nothing_is_sent(
    eager: None, wechat: SandboxAPI, django_capture_on_commit_callbacks: Any
) -> None:
    high_value_rule()
    order = stocked_order(total="499.99")
    pay(order, django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == Milestone.STOCK_LOCKED
    assert wechat.wechat_mp.sent == []
    assert ConfirmationRequest.objects.count() == 0
    assert CustomerMessage.objects.count() == 0
    assert list(orders_ready_for_warehouse().values_list("pk", flat=True)) == [order.pk]


def test_custom_order_rule_and_unconfirmed_order_is_not_ready(eager: None) -> None:
    confirmation_rule_save(
        rule_id=None, values={"name": "custom", "order_type": "custom"}, user=None
    )
    order = stocked_order(order_type="custom")
    Order.objects.filter(pk=order.pk).update(status=Milestone.STOCK_LOCKED)
    opened = confirmation_request_open(order_id=order.pk, now=timezone.now())
    assert opened is not None
    order.refresh_from_db()
    assert order.status == Milestone.AWAITING_CONFIRMATION
    assert list(orders_ready_for_warehouse()) == []
    # Running again opens nothing more.
    assert confirmation_request_open(order_id=order.pk, now=timezone.now()) is None
    assert ConfirmationRequest.objects.count() == 1


def test_timeout_reminds_then_escalates_once_each(wechat: SandboxAPI) -> None:
    high_value_rule()
    order = stocked_order(total="900.00")
    Order.objects.filter(pk=order.pk).update(status=Milestone.STOCK_LOCKED)
    t0 = timezone.now()
    opened = confirmation_request_open(order_id=order.pk, now=t0)
    assert opened is not None
    request, _token = opened

    assert confirmations_sweep(now=t0 + timedelta(hours=11, minutes=59)) == {
        "reminded": 0, "escalated": 0,
    }  # fmt: skip
    assert confirmations_sweep(now=t0 + timedelta(hours=12)) == {"reminded": 1, "escalated": 0}
    [reminder] = wechat.wechat_mp.sent
    assert reminder["data"]["first"] == {"value": "提醒：您的订单仍待确认"}  # noqa: RUF001
    # The reminder's fresh link opens the same confirmation.
    assert Client().get(f"/c/{token_of(reminder)}/").status_code == 200
    assert confirmations_sweep(now=t0 + timedelta(hours=13)) == {"reminded": 0, "escalated": 0}
    assert list(EscalatedConfirmation.objects.filter(escalated_at__isnull=False)) == []

    t_escalate = t0 + timedelta(hours=24)
    assert confirmations_sweep(now=t_escalate) == {"reminded": 0, "escalated": 1}
    assert confirmations_sweep(now=t0 + timedelta(hours=30)) == {"reminded": 0, "escalated": 0}
    request.refresh_from_db()
    assert (request.reminded_at, request.escalated_at) == (t0 + timedelta(hours=12), t_escalate)
    assert list(
        LedgerEvent.objects.filter(order_id=order.pk, action__startswith="order.confirmation_")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "order.confirmation_requested",
        "order.confirmation_reminded",
        "order.confirmation_escalated",
    ]
    assert len(wechat.wechat_mp.sent) == 1


def test_escalated_confirmation_is_listed_in_the_admin(admin_client: Client) -> None:
    high_value_rule()
    order = stocked_order(total="900.00", external_id="SO-ESC-1")
    Order.objects.filter(pk=order.pk).update(status=Milestone.STOCK_LOCKED)
    t0 = timezone.now() - timedelta(hours=30)
    confirmation_request_open(order_id=order.pk, now=t0)
    confirmations_sweep(now=timezone.now())
    page = admin_client.get("/en/admin/customers/escalatedconfirmation/")
    assert page.status_code == 200
    assert "SO-ESC-1" in page.content.decode()


def test_refusal_cancels_with_the_customer_reason_and_releases_stock(
    eager: None, wechat: SandboxAPI, django_capture_on_commit_callbacks: Any
) -> None:
    high_value_rule()
    order = stocked_order(total="800.00")
    pay(order, django_capture_on_commit_callbacks)
    token = token_of(wechat.wechat_mp.sent[0])

    empty = Client().post(f"/c/{token}/", {"action": "refuse", "reason": "  "},
                          HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert b"Please give a reason." in empty.content
    order.refresh_from_db()
    assert order.status == Milestone.AWAITING_CONFIRMATION
    assert LedgerEvent.objects.filter(action="order.customer_refused").count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        answer = Client().post(
            f"/c/{token}/", {"action": "refuse", "reason": "尺码选错了"}, HTTP_USER_AGENT=UA
        )
    assert answer.status_code == 200
    order.refresh_from_db()
    assert order.status == Milestone.CANCELLED
    request = ConfirmationRequest.objects.get()
    assert (request.reason, request.confirmed_at) == ("尺码选错了", None)
    cancel = LedgerEvent.objects.get(action="order.transition", after__status="cancelled")
    assert cancel.references["reason"] == "customer refused: 尺码选错了"
    assert LedgerEvent.objects.get(action="order.customer_refused").after["reason"] == "尺码选错了"
    assert set(StockReservation.objects.filter(order=order).values_list("status", flat=True)) == {
        "released"
    }
    # Confirming after refusing does nothing.
    Client().post(f"/c/{token}/", {"action": "confirm"})
    request.refresh_from_db()
    assert request.confirmed_at is None


def test_confirm_page_shows_the_expected_ship_date() -> None:
    high_value_rule()
    ship_by = timezone.now() + timedelta(days=2)
    order = stocked_order(total="900.00", ship_by=ship_by)
    Order.objects.filter(pk=order.pk).update(status=Milestone.STOCK_LOCKED)
    opened = confirmation_request_open(order_id=order.pk, now=timezone.now())
    assert opened is not None
    page = Client().get(f"/c/{opened[1]}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'预计发货日期: <time datetime="{timezone.localtime(ship_by).isoformat()}">' in page
