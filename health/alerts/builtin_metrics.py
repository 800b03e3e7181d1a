"""The metrics the default rules need that exist today (registered in ``AlertsConfig.ready``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import Coalesce, Concat, RowNumber

from health.alerts.metrics import HEALTH_SCORE_DAILY, MetricValue, Scope, metric, metrics
from health.choices import AnomalyKind
from health.models import Anomaly
from health.score import health_score_daily
from orderhub.choices import Milestone
from orderhub.models import Order

# How many subjects' ids a value carries as evidence (the count is always exact).
EVIDENCE_LIMIT = 20

# Past the pick: the order should have a waybill (tracking number) by now.
SHOULD_HAVE_TRACKING = (
    Milestone.PICKED_PACKED,
    Milestone.WAYBILL_ISSUED,
    Milestone.HANDED_OVER,
    Milestone.COLLECTED,
)

metrics.declare(HEALTH_SCORE_DAILY)


def health_score_daily_metric(now: datetime, scope: Scope) -> list[MetricValue]:
    """Per channel and per warehouse: today's health score (0-100) up to ``now``
    (``health.score.health_score_daily``); a subject with no data today says nothing."""
    values: list[MetricValue] = []
    for kind, wanted in (("channel", scope.channels), ("warehouse", scope.warehouses)):
        if scope.channels and kind == "warehouse" and not scope.warehouses:
            continue  # a rule scoped to channels only
        if scope.warehouses and kind == "channel" and not scope.channels:
            continue
        for subject, score in sorted(health_score_daily(now, kind).items()):
            if score is None or subject is None or (wanted and subject not in wanted):
                continue
            values.append(
                MetricValue(
                    subject_key=f"{kind}:{subject}",
                    value=Decimal(str(round(score, 2))),
                    evidence={"score": round(score, 2), "scope": kind},
                )
            )
    return values


metrics.register(HEALTH_SCORE_DAILY, health_score_daily_metric)


def _scoped(queryset: QuerySet[Any], scope: Scope, *, prefix: str = "") -> QuerySet[Any]:
    if scope.warehouses:
        queryset = queryset.filter(**{f"{prefix}warehouse__code__in": scope.warehouses})
    if scope.channels:
        queryset = queryset.filter(**{f"{prefix}channel__in": scope.channels})
    return queryset


def _grouped(
    queryset: QuerySet[Any],
    *,
    warehouse: str,
    reference: Any,
    order_by: tuple[str, ...],
    name: str,
) -> list[MetricValue]:
    """One value per warehouse: the exact count, and the first ``EVIDENCE_LIMIT`` references
    (in the queryset's order) as evidence. Two statements, whatever the number of rows: the
    counts grouped in SQL, the evidence cut per warehouse by a window's row number."""
    counts = dict(queryset.order_by().values_list(warehouse).annotate(n=Count("pk")))
    sample = (
        queryset.annotate(
            ref=reference,
            rank=Window(
                RowNumber(), partition_by=[F(warehouse)], order_by=[F(f).asc() for f in order_by]
            ),
        )
        .filter(rank__lte=EVIDENCE_LIMIT)
        .values_list(warehouse, "ref")
    )
    references: dict[str, list[str]] = defaultdict(list)
    for code, ref in sample:
        references[code or "-"].append(ref)
    return [
        MetricValue(
            subject_key=f"warehouse:{code or '-'}",
            value=Decimal(count),
            evidence={name: references[code or "-"], "count": count},
        )
        for code, count in sorted(counts.items(), key=lambda item: item[0] or "-")
    ]


@metric("orders_without_tracking")
def orders_without_tracking(now: datetime, scope: Scope) -> list[MetricValue]:
    """Per warehouse: orders picked and packed or further along (not delivered, cancelled or
    returned) with no tracking number, that have been so for at least the window (since the
    order's last status change, or its ship time)."""
    queryset = _scoped(
        Order.objects.filter(status__in=SHOULD_HAVE_TRACKING, tracking_number=""), scope
    )
    queryset = queryset.annotate(since=Coalesce("status_changed_at", "shipped_at", "created_at"))
    return _grouped(
        queryset.filter(since__lte=now - scope.window),
        warehouse="warehouse__code",
        reference=Concat("channel", Value(":"), "external_id"),
        order_by=("since", "id"),
        name="orders",
    )


@metric("ghost_shipment_deadline_within")
def ghost_shipment_deadline_within(now: datetime, scope: Scope) -> list[MetricValue]:
    """Per warehouse: open ``ghost_shipment`` anomalies whose deadline is within the window
    from now (a deadline already passed counts too: it is the most urgent)."""
    queryset = Anomaly.objects.filter(
        Q(kind=AnomalyKind.GHOST_SHIPMENT, resolved_at__isnull=True)
        & Q(deadline__isnull=False, deadline__lte=now + scope.window)
    )
    return _grouped(
        _scoped(queryset, scope, prefix="order__"),
        warehouse="order__warehouse__code",
        reference=F("subject_key"),
        order_by=("deadline", "id"),
        name="anomalies",
    )


@metric("anomalies_escalated")
def anomalies_escalated(now: datetime, scope: Scope) -> list[MetricValue]:
    """Per warehouse: open anomalies that their repair action could not close and escalated to
    people (``escalate_at`` passed). The window is not used: an escalated anomaly counts
    until it resolves."""
    queryset = Anomaly.objects.filter(
        resolved_at__isnull=True, escalate_at__isnull=False, escalate_at__lte=now
    )
    return _grouped(
        _scoped(queryset, scope, prefix="order__"),
        warehouse="order__warehouse__code",
        reference=F("subject_key"),
        order_by=("escalate_at", "id"),
        name="anomalies",
    )
