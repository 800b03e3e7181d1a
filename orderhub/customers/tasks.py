from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from orderhub.customers.choices import MessageKind
from orderhub.customers.services.confirmation import confirmation_request_open
from orderhub.customers.services.credit import customers_credit_refresh
from orderhub.customers.services.sweep import confirmations_sweep
from orderhub.customers.services.wechat import wechat_template_send


@shared_task(name="customers.confirmation_route", acks_late=True)
def confirmation_route_task(*, order_id: int) -> str:
    """Ask for confirmation if a rule selects the stock-locked order. Safe to run twice."""
    now = timezone.now()
    opened = confirmation_request_open(order_id=order_id, now=now)
    if opened is None:
        return "none"
    request, token = opened
    message = wechat_template_send(
        confirmation_id=request.pk, token=token, kind=MessageKind.CONFIRM, now=now
    )
    return message.outcome


@shared_task(name="customers.confirmation_sweep", acks_late=True)
def confirmation_sweep_task() -> dict[str, int]:
    """Beat: remind and escalate unanswered confirmations."""
    return confirmations_sweep(now=timezone.now())


@shared_task(name="customers.credit_refresh", acks_late=True)
def credit_refresh_task() -> int:
    """Beat: recompute every customer's credit score and tier."""
    return customers_credit_refresh(now=timezone.now())
