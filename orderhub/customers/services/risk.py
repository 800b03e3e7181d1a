"""Risk review at intake: orders of customers flagged for abusive returns wait for customer
service, who clears them (the order goes on) or rejects them (the order is cancelled)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce

from orderhub.customers.choices import ReviewStatus
from orderhub.customers.exceptions import CustomerActionError
from orderhub.customers.models import CreditPolicy, CustomerProfile, RiskReview
from orderhub.models import Order
from orderhub.services.actions import order_cancel
from traceability.services import ledger_append


def risk_reviews_open_locked(orders: Sequence[Order], *, now: datetime) -> list[int]:
    """Open a review for each new order whose customer is flagged (called at intake, inside
    the creating transaction); returns the order ids flagged. The customer is the order's, or
    (intake links none yet) the customer with the buyer's or receiver's phone."""
    # One statement: the policy's threshold (its default while no policy row exists) inline.
    threshold = Coalesce(
        Subquery(CreditPolicy.objects.filter(pk=1).values("abuse_flag_at")[:1]),
        Value(CreditPolicy._meta.get_field("abuse_flag_at").get_default()),
    )
    flagged = CustomerProfile.objects.filter(abusive_returns__gte=threshold).select_related(
        "customer"
    )
    ids_flagged = set()
    phones_flagged = set()
    for profile in flagged:
        ids_flagged.add(profile.customer_id)
        if profile.customer.phone:
            phones_flagged.add(profile.customer.phone)
    if not ids_flagged:
        return []
    ids = [
        o.pk
        for o in orders
        if o.customer_id in ids_flagged
        or (o.buyer_phone and o.buyer_phone in phones_flagged)
        or (o.receiver_phone and o.receiver_phone in phones_flagged)
    ]
    RiskReview.objects.bulk_create(
        [RiskReview(order_id=pk, opened_at=now) for pk in ids], ignore_conflicts=True
    )
    for pk in ids:
        ledger_append(
            action="order.risk_review_opened",
            actor="system",
            order_id=pk,
            subject_type="risk_review",
            subject_id=pk,
            source_system="credit",
            after={"status": ReviewStatus.OPEN},
        )
    return ids


def _decide(
    *, review_id: int, status: str, reason: str, user: Any | None, now: datetime
) -> RiskReview:
    reason = reason.strip()
    if not reason:
        raise CustomerActionError("a decision needs a reason")
    review = RiskReview.objects.select_for_update().get(pk=review_id)
    if review.status == status:
        return review
    if review.status != ReviewStatus.OPEN:
        raise CustomerActionError(f"this review is already {review.status}")
    review.status, review.reason, review.decided_by, review.decided_at = status, reason, user, now
    review.save(update_fields=["status", "reason", "decided_by", "decided_at"])
    ledger_append(
        action=f"order.risk_review_{status}",
        actor=user.get_username() if user is not None else "system",
        order_id=review.order_id,
        subject_type="risk_review",
        subject_id=review.pk,
        source_system="admin",
        before={"status": ReviewStatus.OPEN},
        after={"status": status},
        references={"reason": reason},
    )
    return review


@transaction.atomic
def risk_review_clear(
    *, review_id: int, reason: str, user: Any | None, now: datetime
) -> RiskReview:
    """Customer service clears the order (it goes on). Ledger event with the reason."""
    return _decide(
        review_id=review_id, status=ReviewStatus.CLEARED, reason=reason, user=user, now=now
    )


@transaction.atomic
def risk_review_reject(
    *, review_id: int, reason: str, user: Any | None, now: datetime
) -> RiskReview:
    """Customer service rejects the order: ledger event, and the order is cancelled."""
    review = _decide(
        review_id=review_id, status=ReviewStatus.REJECTED, reason=reason, user=user, now=now
    )
    order_cancel(
        order_id=review.order_id,
        reason=f"risk review: {reason.strip()}",
        user=None,
        source="risk_review",
    )
    return review


@transaction.atomic
def risk_review_purpose_set(*, order_id: int, purpose: str, now: datetime) -> RiskReview | None:
    """The customer states the purpose of the purchase on the order page (once, while the
    review is open); ledger event. Returns the review, or None when there is none open."""
    purpose = purpose.strip()[:500]
    review = (
        RiskReview.objects.select_for_update()
        .filter(order_id=order_id, status=ReviewStatus.OPEN)
        .first()
    )
    if review is None or not purpose or review.purpose:
        return review
    review.purpose = purpose
    review.save(update_fields=["purpose"])
    ledger_append(
        action="order.risk_review_purpose",
        actor="customer",
        order_id=order_id,
        subject_type="risk_review",
        subject_id=review.pk,
        source_system="public",
        after={"purpose": purpose, "at": now.isoformat()},
    )
    return review
