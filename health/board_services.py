"""Writes of the board and the health score: a person's review of an abnormal order, the
score's weights, and the reviews/complaints/returns the channels report (feedback).

Each write is one service that appends its ledger event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from health.choices import FeedbackKind, ReviewDecision
from health.models import Anomaly, AnomalyReview, Feedback, ScoreWeights
from orderhub.models import Order
from traceability.services import ledger_append

WEIGHT_FIELDS = ("sync_timeliness", "tracking_completeness", "positive_reviews", "no_returns")
# A review of 4 or 5 stars (of 5) counts as positive where the platform gives no verdict.
POSITIVE_RATING = 4


def _actor(user: Any) -> str:
    return str(user.get_username()) if user is not None else "orderhub:health"


@transaction.atomic
def anomaly_review_record(
    *, anomaly_id: int, user: Any, decision: str, note: str = ""
) -> AnomalyReview:
    """Record a person's decision about an anomaly (a row and a ``health.anomaly_reviewed``
    ledger event naming who). Every call is one decision: reviewing twice keeps both.
    Raises ``ValidationError`` for an unknown decision; ``Anomaly.DoesNotExist`` for a
    missing anomaly (the caller checks the user may see it)."""
    if decision not in ReviewDecision.values:
        raise ValidationError({"decision": f"unknown decision {decision!r}"})
    anomaly = Anomaly.objects.get(pk=anomaly_id)
    review = AnomalyReview.objects.create(
        anomaly=anomaly,
        order_id=anomaly.order_id,
        decision=decision,
        note=note[:500],
        reviewed_by=user,
        reviewed_at=timezone.now(),
    )
    ledger_append(
        action="health.anomaly_reviewed",
        actor=_actor(user),
        order_id=anomaly.order_id,
        subject_type="anomaly",
        subject_id=anomaly.pk,
        after={"kind": anomaly.kind, "decision": decision, "note": review.note,
               "review": review.pk},
    )  # fmt: skip
    return review


def score_weights_get() -> ScoreWeights:
    """The weights in force (the defaults 0.4/0.3/0.2/0.1 until someone edits them)."""
    weights = ScoreWeights.objects.filter(code="default").first()
    return weights if weights is not None else ScoreWeights(code="default")


def score_weights_validate(values: dict[str, Decimal]) -> None:
    """Each weight between 0 and 1, together exactly 1."""
    errors = {name: "must be between 0 and 1" for name in WEIGHT_FIELDS
              if not Decimal(0) <= values[name] <= Decimal(1)}  # fmt: skip
    if errors:
        raise ValidationError(errors)
    total = sum((values[name] for name in WEIGHT_FIELDS), Decimal(0))
    if total != Decimal(1):
        raise ValidationError({"sync_timeliness": f"the four weights add up to {total}, not 1"})


@transaction.atomic
def score_weights_update(
    *, user: Any, sync_window_seconds: int | None = None, **weights: Decimal
) -> ScoreWeights:
    """Change the score's weights (a history row and a ``health.score_weights_updated``
    ledger event with before/after). Unknown names or weights not adding up to 1 raise
    ``ValidationError``; nothing is written then."""
    unknown = set(weights) - set(WEIGHT_FIELDS)
    if unknown:
        raise ValidationError({name: "unknown weight" for name in sorted(unknown)})
    # An unsaved default row until the first edit: that edit is the first history row.
    row = ScoreWeights.objects.select_for_update().filter(code="default").first()
    row = row if row is not None else ScoreWeights(code="default")
    before = {name: str(getattr(row, name)) for name in WEIGHT_FIELDS}
    before["sync_window_seconds"] = str(row.sync_window_seconds)
    values = {name: Decimal(weights.get(name, getattr(row, name))) for name in WEIGHT_FIELDS}
    score_weights_validate(values)
    for name, value in values.items():
        setattr(row, name, value)
    if sync_window_seconds is not None:
        if sync_window_seconds <= 0:
            raise ValidationError({"sync_window_seconds": "must be positive"})
        row.sync_window_seconds = sync_window_seconds
    row._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    row.save()
    after = {name: str(values[name]) for name in WEIGHT_FIELDS}
    after["sync_window_seconds"] = str(row.sync_window_seconds)
    ledger_append(
        action="health.score_weights_updated",
        actor=_actor(user),
        subject_type="score_weights",
        subject_id=row.code,
        before=before,
        after=after,
    )
    return row


@dataclass(frozen=True, slots=True)
class FeedbackIn:
    """One review, complaint or return as an adapter normalised it from a platform payload.

    ``status`` is the platform's own status of it in this report (an after-sale moves on:
    applied, agreed, refunded, closed), at ``status_at`` (the platform's clock, or our receipt
    when the message carries none); '' for a report that has no status (a demo review).
    """

    channel: str
    external_order_id: str
    kind: str
    external_id: str
    occurred_at: datetime
    rating: int | None = None
    positive: bool | None = None
    province: str = ""
    reason: str = ""
    raw: dict[str, Any] | None = None
    status: str = ""
    status_at: datetime | None = None


def _stored(feedback: FeedbackIn) -> dict[str, Any]:
    """The ``raw`` column: the report's payload, and its status with the status's time."""
    raw = dict(feedback.raw or {})
    if feedback.status:
        at = feedback.status_at or feedback.occurred_at
        raw.update(status=feedback.status, status_at=at.isoformat())
    return raw


@transaction.atomic
def feedback_record(*, feedback: FeedbackIn, source_system: str) -> Feedback:
    """Store one feedback report: one row per platform id (channel, kind, external id).

    A repeat of what is stored changes nothing and appends nothing. A report with another
    ``status`` whose ``status_at`` is not older than the stored one moves the row on (its
    status, reason, rating and payload; the earlier ``occurred_at`` of the two kept) and
    appends ``health.feedback_updated`` with the status before and after; an older status
    arriving late is ignored. The order is found by channel order id (one not known yet is
    kept without an order and linked by a later report); ``positive`` defaults from the star
    rating; the province defaults to the order's. A new row appends
    ``health.feedback_received``. Locks the stored row."""
    if feedback.kind not in FeedbackKind.values:
        raise ValidationError({"kind": f"unknown feedback kind {feedback.kind!r}"})
    if feedback.rating is not None and not 1 <= feedback.rating <= 5:
        raise ValidationError({"rating": "must be between 1 and 5"})
    existing = (
        Feedback.objects.select_for_update()
        .filter(channel=feedback.channel, kind=feedback.kind, external_id=feedback.external_id)
        .first()
    )
    if existing is not None:
        return _feedback_move_on(existing, feedback, source_system=source_system)
    order = Order.objects.filter(
        channel=feedback.channel, external_id=feedback.external_order_id
    ).first()
    row = Feedback.objects.create(
        channel=feedback.channel,
        order=order,
        kind=feedback.kind,
        rating=feedback.rating,
        positive=_positive(feedback),
        province=feedback.province or (order.province if order is not None else ""),
        reason=feedback.reason[:500],
        occurred_at=feedback.occurred_at,
        received_at=timezone.now(),
        external_id=feedback.external_id,
        raw=_stored(feedback),
    )
    ledger_append(
        action="health.feedback_received",
        actor=source_system,
        order_id=order.pk if order is not None else None,
        subject_type="feedback",
        subject_id=row.pk,
        source_system=source_system,
        after={"kind": row.kind, "rating": row.rating, "positive": row.positive,
               "province": row.province, "external_id": row.external_id,
               "status": feedback.status},
    )  # fmt: skip
    return row


def _positive(feedback: FeedbackIn) -> bool | None:
    if feedback.positive is None and feedback.kind == FeedbackKind.REVIEW and feedback.rating:
        return feedback.rating >= POSITIVE_RATING
    return feedback.positive


def _feedback_move_on(row: Feedback, feedback: FeedbackIn, *, source_system: str) -> Feedback:
    """Apply a later report to the stored (locked) row; see ``feedback_record``."""
    before = str(row.raw.get("status", "")) if isinstance(row.raw, dict) else ""
    stored_at = row.raw.get("status_at") if isinstance(row.raw, dict) else None
    new_at = feedback.status_at or feedback.occurred_at
    newer = stored_at is None or new_at >= datetime.fromisoformat(str(stored_at))
    changes: list[str] = []
    if feedback.occurred_at < row.occurred_at:
        row.occurred_at = feedback.occurred_at
        changes.append("occurred_at")
    if row.order_id is None or not row.province:
        # The order, or its address, may have arrived after the first report.
        order = (
            row.order
            or Order.objects.filter(
                channel=feedback.channel, external_id=feedback.external_order_id
            ).first()
        )
        if order is not None and row.order_id is None:
            row.order = order
            changes.append("order")
        province = feedback.province or (order.province if order is not None else "")
        if province and not row.province:
            row.province = province
            changes.append("province")
    moved = bool(feedback.status) and feedback.status != before and newer
    if moved:
        row.raw = _stored(feedback)
        row.rating = feedback.rating if feedback.rating is not None else row.rating
        row.positive = _positive(feedback) if feedback.rating or feedback.positive else row.positive
        row.reason = feedback.reason[:500] or row.reason
        changes += ["raw", "rating", "positive", "reason"]
    if not changes:
        return row
    row.save(update_fields=changes)
    if moved or "order" in changes:
        ledger_append(
            action="health.feedback_updated",
            actor=source_system,
            order_id=row.order_id,
            subject_type="feedback",
            subject_id=row.pk,
            source_system=source_system,
            before={"status": before},
            after={"status": row.raw.get("status", "") if isinstance(row.raw, dict) else "",
                   "kind": row.kind, "external_id": row.external_id,
                   "province": row.province},
        )  # fmt: skip
    return row
