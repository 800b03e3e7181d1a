"""Customer confirmation before shipping.

An order that reaches ``stock_locked`` and is selected by an active ``ConfirmationRule`` moves
to ``awaiting_confirmation`` and the customer is asked (WeChat template message with a
one-click link to ``/c/<token>/``). Confirming records the customer's consent (time, user
agent, IP hash) as a ledger event; the order stays in ``awaiting_confirmation`` with its stock
held, and is then ready for a warehouse (``orders_ready_for_warehouse``): the warehouse claim
moves it to ``warehouse_accepted``. Refusing cancels it with the customer's reason. The beat
sweep reminds after ``CONFIRMATION_REMIND_HOURS`` and escalates to customer service after
``CONFIRMATION_ESCALATE_HOURS``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from orderhub.allocation.services import offers_open
from orderhub.choices import Milestone
from orderhub.customers.choices import CreditTier, ReviewStatus, TokenPurpose
from orderhub.customers.exceptions import CustomerActionError
from orderhub.customers.models import (
    ConfirmationRequest,
    ConfirmationRule,
    CustomerProfile,
    RiskReview,
)
from orderhub.customers.services.tokens import access_token_create
from orderhub.models import Order
from orderhub.services.actions import order_cancel
from orderhub.services.orders import order_transition
from traceability.services import ledger_append

RULE_FIELDS = ("name", "is_active", "channel", "order_type", "min_total", "customer_under_review")


def _actor(user: Any | None) -> str:
    return user.get_username() if user is not None else "system"


@transaction.atomic
def confirmation_rule_save(
    *, rule_id: int | None, values: dict[str, Any], user: Any | None
) -> ConfirmationRule:
    """Create (``rule_id`` None) or change a rule: history row with the user, ledger event."""
    rule = (
        ConfirmationRule.objects.select_for_update().get(pk=rule_id)
        if rule_id is not None
        else ConfirmationRule()
    )
    before = {name: str(getattr(rule, name)) for name in RULE_FIELDS} if rule_id else {}
    for name in RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    rule._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    rule.save()
    after = {name: str(getattr(rule, name)) for name in RULE_FIELDS}
    if before != after:
        ledger_append(
            action="customer.confirmation_rule_saved",
            actor=_actor(user),
            subject_type="confirmation_rule",
            subject_id=rule.pk,
            source_system="admin",
            before=before,
            after=after,
        )
    return rule


def confirmation_rule_match(order: Order) -> ConfirmationRule | None:
    """The first active rule (by name) that selects ``order``, or None."""
    tier = (
        CustomerProfile.objects.filter(customer_id=order.customer_id or 0)
        .values_list("tier", flat=True)
        .first()
    )
    for rule in ConfirmationRule.objects.filter(is_active=True).order_by("name"):
        conditions: list[bool] = []
        if rule.channel:
            conditions.append(order.channel == rule.channel)
        if rule.order_type:
            conditions.append(order.order_type == rule.order_type)
        if rule.min_total is not None:
            conditions.append(order.total_amount >= rule.min_total)
        if rule.customer_under_review:
            conditions.append(tier == CreditTier.UNDER_REVIEW)
        if conditions and all(conditions):
            return rule
    return None


@transaction.atomic
def confirmation_request_open(
    *, order_id: int, now: datetime
) -> tuple[ConfirmationRequest, str] | None:
    """Route a stock-locked order a rule selects to ``awaiting_confirmation`` and open its
    request; returns (request, confirm-link token) or None when nothing is to be done (not
    stock-locked, no rule selects it, a request already exists). Safe to run twice."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None or order.status != Milestone.STOCK_LOCKED:
        return None
    if ConfirmationRequest.objects.filter(order_id=order_id).exists():
        return None
    rule = confirmation_rule_match(order)
    if rule is None:
        return None
    order_transition(
        order_id=order_id,
        target=Milestone.AWAITING_CONFIRMATION,
        source="confirmation",
        reason=f"confirmation rule: {rule.name}",
    )
    expires = now + timedelta(hours=settings.CONFIRMATION_EXPIRES_HOURS)
    request = ConfirmationRequest.objects.create(
        order_id=order_id, rule=rule, created_at=now, expires_at=expires
    )
    token = access_token_create(
        order_id=order_id,
        purpose=TokenPurpose.CONFIRM,
        now=now,
        expires_at=expires,
        confirmation=request,
    )
    ledger_append(
        action="order.confirmation_requested",
        actor="system",
        order_id=order_id,
        subject_type="confirmation",
        subject_id=request.pk,
        source_system="confirmation",
        after={"expires_at": expires.isoformat()},
        references={"rule": rule.name},
    )
    return request, token


def ip_hash(ip: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()


def _locked_request(confirmation_id: int) -> ConfirmationRequest:
    return ConfirmationRequest.objects.select_for_update().get(pk=confirmation_id)


@transaction.atomic
def confirmation_confirm(
    *, confirmation_id: int, user_agent: str, ip: str, now: datetime
) -> ConfirmationRequest:
    """The customer confirms: consent with time and device as a ledger event. The order stays
    awaiting confirmation with its stock held and is offered to the warehouses, the first
    claim moves it on. Confirmed already
    → returns quietly; refused already → ``CustomerActionError``."""
    request = _locked_request(confirmation_id)
    if request.confirmed_at is not None:
        return request
    if request.refused_at is not None:
        raise CustomerActionError("this order was already refused")
    request.confirmed_at = now
    request.device = {"user_agent": user_agent[:300], "ip_hash": ip_hash(ip)}
    request.save(update_fields=["confirmed_at", "device"])
    ledger_append(
        action="order.customer_confirmed",
        actor="customer",
        order_id=request.order_id,
        subject_type="confirmation",
        subject_id=request.pk,
        source_system="public",
        after={"confirmed_at": now.isoformat(), **request.device},
    )
    # Confirmed: the warehouses may now claim it (its offers were withdrawn while it waited).
    Order.objects.select_for_update().filter(pk=request.order_id).first()
    offers_open(order_ids=[request.order_id], now=now)
    return request


@transaction.atomic
def confirmation_refuse(
    *, confirmation_id: int, reason: str, user_agent: str, ip: str, now: datetime
) -> ConfirmationRequest:
    """The customer refuses with ``reason``: the order is cancelled with it (``order_cancel``,
    which releases the stock). Refused already → quietly; confirmed → ``CustomerActionError``."""
    reason = reason.strip()[:500]
    if not reason:
        raise CustomerActionError("a refusal needs a reason")
    request = _locked_request(confirmation_id)
    if request.refused_at is not None:
        return request
    if request.confirmed_at is not None:
        raise CustomerActionError("this order was already confirmed")
    request.refused_at, request.reason = now, reason
    request.device = {"user_agent": user_agent[:300], "ip_hash": ip_hash(ip)}
    request.save(update_fields=["refused_at", "reason", "device"])
    ledger_append(
        action="order.customer_refused",
        actor="customer",
        order_id=request.order_id,
        subject_type="confirmation",
        subject_id=request.pk,
        source_system="public",
        after={"refused_at": now.isoformat(), "reason": reason, **request.device},
    )
    order_cancel(order_id=request.order_id, reason=f"customer refused: {reason}", source="customer")
    return request


def _open() -> Q:
    return Q(confirmed_at__isnull=True, refused_at__isnull=True)


@transaction.atomic
def confirmation_remind(*, confirmation_id: int, now: datetime) -> str | None:
    """Mark the reminder sent (once) and return a fresh link token, or None when done."""
    marked = ConfirmationRequest.objects.filter(
        _open(), pk=confirmation_id, reminded_at__isnull=True
    ).update(reminded_at=now)
    if not marked:
        return None
    request = ConfirmationRequest.objects.get(pk=confirmation_id)
    ledger_append(
        action="order.confirmation_reminded",
        actor="system",
        order_id=request.order_id,
        subject_type="confirmation",
        subject_id=request.pk,
        source_system="confirmation",
        after={"reminded_at": now.isoformat()},
    )
    return access_token_create(
        order_id=request.order_id,
        purpose=TokenPurpose.CONFIRM,
        now=now,
        expires_at=request.expires_at,
        confirmation=request,
    )


@transaction.atomic
def confirmation_escalate(*, confirmation_id: int, now: datetime) -> bool:
    """Flag the unanswered request for customer service (once); ledger event."""
    marked = ConfirmationRequest.objects.filter(
        _open(), pk=confirmation_id, escalated_at__isnull=True
    ).update(escalated_at=now)
    if marked:
        request = ConfirmationRequest.objects.get(pk=confirmation_id)
        ledger_append(
            action="order.confirmation_escalated",
            actor="system",
            order_id=request.order_id,
            subject_type="confirmation",
            subject_id=request.pk,
            source_system="confirmation",
            after={"escalated_at": now.isoformat()},
        )
    return bool(marked)


def confirmations_due(*, now: datetime) -> tuple[list[int], list[int]]:
    """(ids to remind, ids to escalate) at ``now``. Reads only."""
    remind_before = now - timedelta(hours=settings.CONFIRMATION_REMIND_HOURS)
    escalate_before = now - timedelta(hours=settings.CONFIRMATION_ESCALATE_HOURS)
    open_requests = ConfirmationRequest.objects.filter(_open()).order_by("pk")
    remind = list(
        open_requests.filter(reminded_at__isnull=True, created_at__lte=remind_before).values_list(
            "pk", flat=True
        )
    )
    escalate = list(
        open_requests.filter(
            escalated_at__isnull=True, created_at__lte=escalate_before
        ).values_list("pk", flat=True)
    )
    return remind, escalate


def orders_ready_for_warehouse() -> QuerySet[Order]:
    """Orders a warehouse may take now: stock locked, or awaiting confirmation and confirmed;
    never one whose risk review is still open."""
    confirmed = ConfirmationRequest.objects.filter(
        order_id=OuterRef("pk"), confirmed_at__isnull=False
    )
    under_review = RiskReview.objects.filter(order_id=OuterRef("pk"), status=ReviewStatus.OPEN)
    return Order.objects.filter(
        Q(status=Milestone.STOCK_LOCKED)
        | Q(Exists(confirmed), status=Milestone.AWAITING_CONFIRMATION)
    ).exclude(Exists(under_review))
