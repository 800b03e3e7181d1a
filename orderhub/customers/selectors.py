"""What the public order page shows: milestones with times, tracking, and plain-words notices.

Reads only. Never shows the receiver's phone or address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from orderhub.choices import FORWARD_PATH, FactOutcome, Milestone, TrackingStage
from orderhub.customers.choices import ReviewStatus
from orderhub.customers.models import ConfirmationRequest, RiskReview
from orderhub.models import Order, OrderLine, StatusFact, StockShortage, TrackingEvent

APPLIED = (FactOutcome.ADVANCED, FactOutcome.SKIPPED_AHEAD, FactOutcome.CONFIRMED)
TROUBLE_STAGES = (
    TrackingStage.EXCEPTION,
    TrackingStage.FAILED_ATTEMPT,
    TrackingStage.RETURNING,
    TrackingStage.RETURNED,
)


@dataclass(frozen=True, slots=True)
class MilestoneRow:
    label: str
    at: datetime | None
    reached: bool
    current: bool


@dataclass(frozen=True, slots=True)
class Notice:
    what: str
    doing: str


@dataclass(frozen=True, slots=True)
class PublicOrder:
    external_id: str
    status_label: str
    receiver: str
    lines: list[OrderLine]
    milestones: list[MilestoneRow]
    tracking: list[TrackingEvent]
    notices: list[Notice]
    carrier: str
    tracking_number: str
    ship_by: datetime | None


def _mask(name: str) -> str:
    return f"{name[0]}{'*' * max(1, len(name) - 1)}" if name else ""


def public_order(order: Order, *, now: datetime | None = None) -> PublicOrder:
    now = now or timezone.now()
    times: dict[str, datetime] = {}
    for milestone, at in (
        StatusFact.objects.filter(order_id=order.pk, outcome__in=APPLIED)
        .exclude(milestone="")
        .order_by("occurred_at")
        .values_list("milestone", "occurred_at")
    ):
        times.setdefault(milestone, at)
    for milestone, own in (
        (Milestone.PLACED, order.placed_at),
        (Milestone.PAID, order.paid_at),
        (Milestone.HANDED_OVER, order.shipped_at),
        (Milestone.DELIVERED, order.delivered_at),
    ):
        if own is not None:
            times[milestone] = own
    labels = dict(Milestone.choices)
    rank = FORWARD_PATH.index(order.status) if order.status in FORWARD_PATH else -1
    rows: list[MilestoneRow] = []
    for index, milestone in enumerate(FORWARD_PATH):
        reached = index <= rank
        if (
            milestone == Milestone.AWAITING_CONFIRMATION
            and milestone not in times
            and order.status != milestone
        ):
            continue  # an optional step this order never took
        when = times.get(milestone)
        if when is None and order.status == milestone:
            when = order.status_changed_at
        rows.append(
            MilestoneRow(
                label=str(labels[milestone]), at=when, reached=reached or milestone in times,
                current=order.status == milestone,
            )
        )  # fmt: skip
    if order.status not in FORWARD_PATH:
        rows.append(
            MilestoneRow(
                label=str(labels[order.status]), at=order.status_changed_at, reached=True,
                current=True,
            )
        )  # fmt: skip
    tracking = list(TrackingEvent.objects.filter(order_id=order.pk).order_by("-occurred_at", "-id"))
    return PublicOrder(
        external_id=order.external_id,
        status_label=str(labels.get(order.status, order.status)),
        receiver=_mask(order.receiver_name),
        lines=list(OrderLine.objects.filter(order_id=order.pk).order_by("line_no")),
        milestones=rows,
        tracking=tracking,
        notices=_notices(order, tracking, now=now),
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        ship_by=order.ship_by,
    )


def _notices(order: Order, tracking: list[TrackingEvent], *, now: datetime) -> list[Notice]:
    notices: list[Notice] = []
    if order.status == Milestone.CANCELLED:
        notices.append(Notice(_("This order was cancelled."), _("Any payment is refunded to you.")))
    if order.status == Milestone.AWAITING_CONFIRMATION:
        open_request = ConfirmationRequest.objects.filter(
            order_id=order.pk, confirmed_at__isnull=True, refused_at__isnull=True
        ).exists()
        if open_request:
            notices.append(
                Notice(
                    _("We are waiting for your confirmation before shipping."),
                    _("Please use the confirmation link we sent you."),
                )
            )
    if RiskReview.objects.filter(order_id=order.pk, status=ReviewStatus.OPEN).exists():
        notices.append(
            Notice(
                _("Your order is being checked by our customer service."),
                _("They will contact you shortly; no action is needed from you."),
            )
        )
    if StockShortage.objects.filter(order_id=order.pk, resolved_at__isnull=True).exists():
        notices.append(
            Notice(
                _("Some items are not in stock in the warehouse right now."),
                _("We are restocking them and will ship as soon as they arrive."),
            )
        )
    if order.ship_by and order.ship_by < now and order.status in FORWARD_PATH[:5]:
        notices.append(
            Notice(
                _("Your order is later than planned to leave the warehouse."),
                _("The warehouse has been told and is working on it."),
            )
        )
    trouble = next((e for e in tracking if e.stage in TROUBLE_STAGES), None)
    if trouble is not None and tracking and tracking[0].pk == trouble.pk:
        notices.append(
            Notice(
                _("The courier reported a problem: %(what)s")
                % {"what": trouble.description or trouble.get_stage_display()},
                _("We are following it up with the courier."),
            )
        )
    return notices
