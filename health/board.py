"""Selectors of the live health board: one per panel, each a fixed, bounded set of statements
(``django_assert_num_queries`` holds each to its count). Nothing here writes.

A ``BoardScope`` carries the warehouses a user is limited to (``None``: every warehouse); every
panel counts only the orders of those warehouses.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.urls import reverse

from health.alerts.choices import DeliveryStatus, IncidentStatus
from health.alerts.models import Delivery, Incident
from health.models import Anomaly, Feedback
from health.recovery import recovery_cycle
from health.score import (
    COMPONENTS,
    SubjectScore,
    health_score_trend,
    health_scores_both,
    window_for,
)
from orderhub.choices import FORWARD_PATH, FORWARD_RANK, Milestone
from orderhub.models import Order, StatusFact, Warehouse

TOP_LIMIT = 10
ALERTS_LIMIT = 20
MAP_DAYS = 30
TREND_DAYS = 7
# The funnel's steps after the inflow (awaiting_confirmation is optional, so not a step).
FUNNEL_STEPS: tuple[str, ...] = tuple(
    m for m in FORWARD_PATH if m != Milestone.AWAITING_CONFIRMATION
)


class BoardScopeError(Exception):
    """The user may not see the board, or not the warehouse asked for."""


@dataclass(frozen=True, slots=True)
class BoardScope:
    warehouse_ids: tuple[int, ...] | None
    warehouse_code: str = ""

    def order_filter(self, prefix: str = "order__") -> Q:
        """Rows of another table whose order is in scope, without a sub-select of all orders
        when the scope is every warehouse."""
        if self.warehouse_ids is None:
            return Q(**{f"{prefix[:-2]}__isnull": False})
        return Q(**{f"{prefix}warehouse_id__in": self.warehouse_ids})

    def orders(self, queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
        queryset = Order.objects.all() if queryset is None else queryset
        if self.warehouse_ids is None:
            return queryset
        return queryset.filter(warehouse_id__in=self.warehouse_ids)


def board_scope(user: Any, warehouse_code: str = "") -> BoardScope:
    """The scope a user sees, narrowed to ``warehouse_code`` when given. A warehouse user
    asking for another warehouse, or a user with no right to orders, raises
    ``BoardScopeError``. Two statements at most (the user's warehouses, the code)."""
    if not getattr(user, "is_staff", False):
        raise BoardScopeError("staff only")
    own: list[int] | None = None
    if not user.is_superuser:
        own = list(user.warehouses.values_list("id", flat=True))
        if not own:
            if not user.has_perm("orderhub.view_order"):
                raise BoardScopeError("no right to see orders")
            own = None
    if not warehouse_code:
        return BoardScope(tuple(own) if own is not None else None)
    found = Warehouse.objects.filter(code=warehouse_code).values_list("id", flat=True).first()
    if found is None or (own is not None and found not in own):
        raise BoardScopeError("warehouse not in scope")
    return BoardScope((found,), warehouse_code)


def board_order_url(order_id: int) -> str:
    """Where a board entry links to: the staff order page (in the page's language)."""
    return reverse("staff-order", args=[order_id])


# --- funnel -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FunnelRow:
    channel: str
    steps: list[tuple[str, int, int]]  # (milestone, today, last hour)
    cancelled: tuple[int, int]
    anomalies: tuple[int, int]


def funnel_panel(*, now: datetime, scope: BoardScope) -> list[FunnelRow]:
    """Per channel: orders placed today and in the last hour, how many of them reached each
    milestone, how many were cancelled, and the anomalies opened (intercepted) for the
    channel's orders today / last hour. Two statements."""
    day = window_for(now, "day").start
    hour = now - timedelta(hours=1)
    rows = (
        scope.orders()
        .filter(placed_at__gte=day, placed_at__lte=now)
        .values("channel", "status")
        .annotate(today=Count("id"), hour=Count("id", filter=Q(placed_at__gte=hour)))
        .order_by()
    )
    counts: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        counts[row["channel"]][row["status"]] = (row["today"], row["hour"])
    anomalies = (
        Anomaly.objects.filter(scope.order_filter(), opened_at__gte=day, opened_at__lte=now)
        .values(channel=F("order__channel"))
        .annotate(today=Count("id"), hour=Count("id", filter=Q(opened_at__gte=hour)))
        .order_by()
    )
    intercepted = {row["channel"]: (row["today"], row["hour"]) for row in anomalies}
    result = []
    for channel in sorted(set(counts) | set(intercepted)):
        by_status = counts.get(channel, {})
        steps = []
        for step in FUNNEL_STEPS:
            rank = FORWARD_RANK[step]
            reached = [value for status, value in by_status.items()
                       if (status in FORWARD_RANK and FORWARD_RANK[status] >= rank)
                       or (step == Milestone.PLACED)]  # fmt: skip
            steps.append((step, sum(v[0] for v in reached), sum(v[1] for v in reached)))
        cancelled = by_status.get(Milestone.CANCELLED, (0, 0))
        result.append(FunnelRow(channel, steps, cancelled, intercepted.get(channel, (0, 0))))
    return result


# --- top 10 abnormal orders -------------------------------------------------------------------
# Risk 0-100: deadline (40: overdue or due now, 0 when 24 h or more away), order value (25:
# 2,000 or more), customer tier (20: key account), age of the anomaly (15: a day or older).
# The order's value, tier and warehouse come from ``AnomalyRank`` (copied for the open
# anomalies by the fold, LEFT JOINed by primary key); only an anomaly opened since the last
# fold pass reads its order (a sub-select that runs for it alone). The ranking thus reads the
# open anomalies through their partial index, never the orders.
_RANKED = (
    "COALESCE(health_anomalyrank.{field}, (SELECT o.{field} FROM orderhub_order o "
    "WHERE o.id = health_anomaly.order_id))"
)
RISK_SQL = (
    "round((40 * CASE WHEN health_anomaly.deadline IS NULL THEN 0 ELSE LEAST(GREATEST("
    "1 - EXTRACT(EPOCH FROM (health_anomaly.deadline - %s)) / 86400.0, 0), 1) END"
    f" + 25 * LEAST({_RANKED.format(field='total_amount')} / 2000.0, 1)"
    f" + 20 * {_RANKED.format(field='priority')} / 3.0"
    " + 15 * LEAST(GREATEST(EXTRACT(EPOCH FROM (%s - health_anomaly.opened_at)) / 86400.0, 0), 1)"
    ")::numeric, 1)"
)


@dataclass(frozen=True, slots=True)
class TopEntry:
    anomaly: Anomaly
    order: Order
    risk: Decimal
    url: str
    snapshot: list[tuple[str, str, str, datetime]]  # system, raw status, milestone, when
    last_decision: str


def top_abnormal_panel(*, now: datetime, scope: BoardScope) -> list[TopEntry]:
    """The ten open order anomalies with the highest risk, each with its evidence, the
    latest status every system reported for the order, and the last review decision. Three
    statements (the ranking, the ten orders, their systems' latest facts)."""
    last_review = (
        "SELECT r.decision FROM health_anomalyreview r WHERE r.anomaly_id = health_anomaly.id "
        "ORDER BY r.reviewed_at DESC, r.id DESC LIMIT 1"
    )
    ranked = Anomaly.objects.filter(resolved_at__isnull=True, order__isnull=False).annotate(
        rank_warehouse=Coalesce(
            F("ranking__warehouse_id"),
            Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("warehouse_id")[:1]),
            output_field=BigIntegerField(),
        )
    )
    if scope.warehouse_ids is not None:
        ranked = ranked.filter(rank_warehouse__in=scope.warehouse_ids)
    risk = RawSQL(RISK_SQL, (now, now))  # noqa: S611 - constant SQL, bound parameters
    decision = RawSQL(last_review, ())  # noqa: S611 - constant SQL
    anomalies = list(
        ranked.annotate(risk=risk, last_decision=decision).order_by(
            "-risk", "deadline", "opened_at", "id"
        )[:TOP_LIMIT]
    )
    order_ids = [anomaly.order_id for anomaly in anomalies if anomaly.order_id]
    orders = Order.objects.select_related("warehouse").in_bulk(order_ids) if order_ids else {}
    snapshots: dict[int, list[tuple[str, str, str, datetime]]] = defaultdict(list)
    if order_ids:
        latest = (
            StatusFact.objects.filter(order_id__in=order_ids)
            .order_by("order_id", "system", "-occurred_at", "-id")
            .distinct("order_id", "system")
            .values_list("order_id", "system", "raw_status", "milestone", "occurred_at")
        )
        for order_id, system, raw, milestone, occurred_at in latest:
            snapshots[order_id].append((system, raw, milestone, occurred_at))
    entries = []
    for anomaly in anomalies:
        order = orders[anomaly.order_id]
        if scope.warehouse_ids is not None and order.warehouse_id not in scope.warehouse_ids:
            continue  # moved to another warehouse since the last fold pass copied it
        anomaly.order = order
        entries.append(
            TopEntry(
                anomaly=anomaly,
                order=order,
                risk=anomaly.risk,
                url=board_order_url(order.pk),
                snapshot=snapshots.get(order.pk, []),
                last_decision=anomaly.last_decision or "",
            )
        )
    return entries


# --- complaints by province -------------------------------------------------------------------
def complaint_map_panel(
    *, now: datetime, scope: BoardScope, days: int = MAP_DAYS
) -> list[tuple[str, int]]:
    """Complaints of the last ``days`` days per buyer's province, most first. One statement."""
    since = now - timedelta(days=days)
    queryset = Feedback.objects.filter(
        kind="complaint", occurred_at__gte=since, occurred_at__lte=now
    ).exclude(province="")
    if scope.warehouse_ids is not None:
        queryset = queryset.filter(order__warehouse_id__in=scope.warehouse_ids)
    rows = queryset.values("province").annotate(count=Count("id")).order_by("-count", "province")
    return [(row["province"], row["count"]) for row in rows]


# --- trends -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrendDay:
    day: str
    score: float | None
    opened: int
    recovery_median_minutes: float | None  # median time to resolve (resolved ones)
    auto_within_2min_share: float | None  # share auto-repaired within 2 minutes of opening
    cycle_median_minutes: float | None  # median order recovery cycle (finished cycles)


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60.0, 1) if seconds is not None else None


def trends_panel(*, now: datetime, scope: BoardScope, days: int = TREND_DAYS) -> list[TrendDay]:
    """Per local day of the last ``days``: the overall health score, and the recovery cycle
    of the anomalies opened that day (``health.recovery.recovery_cycle`` grouped by day):
    how many opened, the median minutes to resolve, the share auto-repaired within two
    minutes, the median order recovery cycle. Nine statements (the score's seven, the
    recovery selector's two, which it runs in a transaction of its own)."""
    scores = health_score_trend(now, days=days, warehouse_ids=scope.warehouse_ids)
    start = window_for(now, "day").start - timedelta(days=days - 1)
    rows = recovery_cycle(since=start, until=now, group_by="day",
                          warehouse_ids=scope.warehouse_ids)  # fmt: skip
    by_day = {row.group: row for row in rows}
    result = []
    for day, score in scores:
        row = by_day.get(day.isoformat())
        if row is None:
            result.append(TrendDay(day.isoformat(), score, 0, None, None, None))
            continue
        share = row.auto_within_2min_share
        result.append(
            TrendDay(
                day.isoformat(), score, row.anomalies, _minutes(row.resolve_p50_s),
                round(share, 3) if share is not None else None, _minutes(row.cycle_p50_s),
            )
        )  # fmt: skip
    return result


# --- open alerts -----------------------------------------------------------------------------
ALERT_STATUSES = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)


def incidents_in_scope(scope: BoardScope) -> QuerySet[Incident]:
    """The incidents a board scope shows: all of them for every warehouse, else only those
    about one of the scope's warehouses (an incident about a channel belongs to none)."""
    queryset = Incident.objects.all()
    if scope.warehouse_ids is not None:
        queryset = queryset.filter(warehouse_id__in=scope.warehouse_ids)
    return queryset


@dataclass(frozen=True, slots=True)
class AlertEntry:
    incident: Incident
    steps: int  # escalation steps the rule has (``incident.escalation_step`` of them sent)
    last_delivery: str  # the outcome of the latest message sent about it ("" when none)

    @property
    def last_delivery_label(self) -> str:
        return str(DeliveryStatus(self.last_delivery).label) if self.last_delivery else ""


def alerts_panel(*, scope: BoardScope, limit: int = ALERTS_LIMIT) -> list[AlertEntry]:
    """Open and acknowledged alert incidents in scope, newest first, at most ``limit``, each
    with its rule, the metric's value, since when, the escalation step and the latest
    delivery's outcome. One statement."""
    latest = Delivery.objects.filter(incident_id=OuterRef("pk")).order_by("-created_at", "-id")
    incidents = list(
        incidents_in_scope(scope)
        .filter(status__in=ALERT_STATUSES)
        .select_related("rule", "warehouse", "acknowledged_by")
        .annotate(last_delivery=Subquery(latest.values("status")[:1]))
        .order_by("-opened_at", "-id")[:limit]
    )
    return [
        AlertEntry(incident, len(incident.rule.escalation or []), incident.last_delivery or "")
        for incident in incidents
    ]


# --- scores -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScoreRow:
    scope: str
    subject: str
    day: SubjectScore | None
    hour: SubjectScore | None


def score_panel(*, now: datetime, scope: BoardScope) -> list[ScoreRow]:
    """Every channel's and warehouse's score today and in the last hour with its components.
    Six statements (the weights, the fold's watermarks, one per component)."""
    scores = health_scores_both(now=now, warehouse_ids=scope.warehouse_ids)
    subjects = sorted({(key[0], key[1]) for key in scores})
    return [
        ScoreRow(subject_scope, subject, scores.get((subject_scope, subject, "day")),
                 scores.get((subject_scope, subject, "hour")))
        for subject_scope, subject in subjects
    ]  # fmt: skip


__all__ = ["COMPONENTS"]
