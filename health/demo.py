"""Demo reviews, complaints and returns for the demo orders (the board's map and score have
something to show). Idempotent: each report has a stable platform id, a second run adds
nothing. Stored through ``feedback_record`` like any channel's report."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from health.board_services import FeedbackIn, feedback_record
from health.choices import FeedbackKind
from health.models import Feedback
from orderhub.choices import Milestone
from orderhub.models import Order

COMPLAINT_REASONS = ("物流太慢", "包装破损", "发错货", "客服态度差", "未按时发货")


def demo_feedback_load(
    *,
    seed: int = 20261125,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Reviews for delivered orders (mostly positive), complaints on about one order in ten
    that left the warehouse, a return for each returned order. Returns how many were new."""
    rng = random.Random(seed)
    now = now or timezone.now()
    before = Feedback.objects.count()
    orders = Order.objects.filter(
        status__in=[Milestone.HANDED_OVER, Milestone.COLLECTED, Milestone.DELIVERED,
                    Milestone.RETURNED]
    ).order_by("id")  # fmt: skip
    for index, order in enumerate(orders.iterator()):
        base = order.shipped_at or order.placed_at or now
        reports: list[FeedbackIn] = []
        if order.status == Milestone.DELIVERED:
            rating = rng.choices([5, 4, 3, 2, 1], [55, 25, 8, 7, 5])[0]
            reports.append(_report(order, FeedbackKind.REVIEW, "rv", base, now, rng, rating=rating))
        if rng.random() < 0.12:
            reports.append(_report(order, FeedbackKind.COMPLAINT, "cp", base, now, rng,
                                   reason=rng.choice(COMPLAINT_REASONS)))  # fmt: skip
        if order.status == Milestone.RETURNED:
            reports.append(_report(order, FeedbackKind.RETURN, "rt", base, now, rng))
        for report in reports:
            feedback_record(feedback=report, source_system=f"demo:{order.channel}")
        if progress:
            progress(index)
    return Feedback.objects.count() - before


def _report(
    order: Order, kind: str, prefix: str, base: datetime, now: datetime, rng: random.Random,
    *, rating: int | None = None, reason: str = "",
) -> FeedbackIn:  # fmt: skip
    at = min(base + timedelta(hours=rng.uniform(1, 72)), now)
    return FeedbackIn(
        channel=order.channel, external_order_id=order.external_id, kind=kind,
        external_id=f"{prefix}-{order.external_id}", occurred_at=at, rating=rating,
        province=order.province, reason=reason,
        raw={"demo": True, "order": order.external_id, "kind": kind},
    )  # fmt: skip
