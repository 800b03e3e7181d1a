"""The WeChat Official Account template message sender (``message/template/send``).

HTTP runs outside any transaction; each message is kept as a ``CustomerMessage`` with the
request and the answer. WeChat answers 200 with ``{"errcode": 0, "errmsg": "ok", "msgid": n}``
on success and a non-zero ``errcode`` otherwise.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from orderhub.customers.choices import MessageKind, MessageOutcome
from orderhub.customers.models import ConfirmationRequest, CustomerMessage, CustomerProfile
from orderhub.models import OrderLine

TIMEOUT = (3.0, 10.0)
SEND_PATH = "/cgi-bin/message/template/send"


def confirm_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/c/{token}/"


def thumbnail_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/{settings.STATIC_URL.lstrip('/')}public/goods.svg"


def template_payload(
    *, confirmation: ConfirmationRequest, openid: str, token: str, kind: str, now: datetime
) -> dict[str, object]:
    order = confirmation.order
    lines = OrderLine.objects.filter(order_id=order.pk).order_by("line_no")
    goods = "、".join(f"{line.title or line.sku} x{line.quantity}" for line in lines) or "-"
    ship = timezone.localtime(order.ship_by or now + timedelta(days=1))
    first = (
        "请确认您的订单后我们再发货" if kind == MessageKind.CONFIRM else "提醒：您的订单仍待确认"  # noqa: RUF001
    )
    return {
        "touser": openid,
        "template_id": settings.WECHAT_MP_TEMPLATE_ID,
        "url": confirm_url(token),
        "data": {
            "first": {"value": first},
            "keyword1": {"value": order.external_id},
            "keyword2": {"value": goods[:200]},
            "keyword3": {"value": ship.strftime("%Y-%m-%d")},
            "keyword4": {"value": thumbnail_url()},
            "remark": {"value": "点击消息一键确认，或说明原因取消订单。"},  # noqa: RUF001
        },
    }


def wechat_template_send(
    *, confirmation_id: int, token: str, kind: str, now: datetime
) -> CustomerMessage:
    """Send the confirmation (or reminder) message with the link carrying ``token``."""
    confirmation = ConfirmationRequest.objects.select_related("order").get(pk=confirmation_id)
    customer_id = confirmation.order.customer_id
    openid = (
        CustomerProfile.objects.filter(customer_id=customer_id or 0)
        .values_list("wechat_openid", flat=True)
        .first()
        or ""
    )
    url = f"{settings.WECHAT_MP_API_BASE}{SEND_PATH}"
    payload = template_payload(
        confirmation=confirmation, openid=openid, token=token, kind=kind, now=now
    )
    body = json.dumps(payload, ensure_ascii=False)
    # The token in the link is never stored: the kept request shows the link without it.
    kept = body.replace(token, "<token>")
    if not openid:
        return CustomerMessage.objects.create(
            confirmation=confirmation, kind=kind, url=url, request_body=kept,
            outcome=MessageOutcome.SKIPPED, sent_at=now,
        )  # fmt: skip
    status: int | None = None
    answer = ""
    outcome = MessageOutcome.FAILED
    try:
        response = requests.post(
            url,
            params={"access_token": settings.WECHAT_MP_ACCESS_TOKEN},
            data=body.encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=TIMEOUT,
        )
        status, answer = response.status_code, response.text
        if status == 200 and response.json().get("errcode") == 0:
            outcome = MessageOutcome.SENT
    except (requests.RequestException, ValueError) as exc:
        answer = f"{type(exc).__name__}: {exc}"
    return CustomerMessage.objects.create(
        confirmation=confirmation, kind=kind, url=url, request_body=kept,
        response_status=status, response_body=answer[:5000], outcome=outcome, sent_at=now,
    )  # fmt: skip
