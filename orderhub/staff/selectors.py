"""Reads of the staff order page. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from health.models import Anomaly
from orderhub.choices import FORWARD_RANK, Milestone
from orderhub.models import Order, StatusFact, TrackingEvent
from traceability.story import (
    ROLES,
    StoryLine,
    StorySummary,
    anomaly_kind_label,
    role_label,
    story_lines,
    story_summary,
    system_role,
)


@dataclass(frozen=True, slots=True)
class SourceView:
    """What one kind of system (channel, ERP, WMS, courier, customer) last said.

    ``lag_seconds``: for a source at the order's status, how long after the first source that
    reported it this one did, by the sources' clocks (0 for the first); for a source behind
    it, how long it has been behind: now minus when OrderHub first received the order's
    status. ``None`` when it said nothing.
    """

    role: str
    label: str
    system: str
    raw_status: str
    milestone: str
    milestone_label: str
    occurred_at: datetime | None
    received_at: datetime | None
    lag_seconds: float | None
    behind: bool


@dataclass(frozen=True, slots=True)
class AnomalyView:
    pk: int
    kind: str
    label: str
    opened_at: datetime
    evidence_at: datetime
    deadline: datetime | None
    seconds_left: float | None
    evidence: tuple[tuple[str, str], ...]
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderPage:
    order: Order
    sources: tuple[SourceView, ...]
    anomalies: tuple[AnomalyView, ...]
    tracking: tuple[TrackingEvent, ...]
    lines: tuple[StoryLine, ...]
    summary: StorySummary


def _rank(milestone: str) -> int:
    return FORWARD_RANK.get(milestone, -1)


def order_sources(
    *, order: Order, facts: list[StatusFact], now: datetime
) -> tuple[SourceView, ...]:
    """Each kind of system's latest statement (by the source's clock), side by side."""
    latest: dict[str, StatusFact] = {}
    for each in facts:  # in occurred_at order
        latest[system_role(each.system)] = each
    at_status = [fact for fact in facts if fact.milestone == order.status]
    # By the sources' clocks: how long after the first source each one reported the status.
    first_of_status = min((fact.occurred_at for fact in at_status), default=None)
    # By OrderHub's clock (immune to a source's skewed clock): since when the others lag.
    known_since = min((fact.received_at for fact in at_status), default=order.status_changed_at)
    terminal = order.status in (Milestone.CANCELLED, Milestone.RETURNED)
    views = []
    for role in ROLES:
        fact = latest.get(role)
        if fact is None:
            views.append(
                SourceView(role, role_label(role), "", "", "", "", None, None, None, False)
            )
            continue
        lag: float | None = None
        behind = False
        if fact.milestone == order.status:
            reported = min(
                f.occurred_at
                for f in facts
                if system_role(f.system) == role and f.milestone == order.status
            )
            if first_of_status is not None:
                lag = max(0.0, (reported - first_of_status).total_seconds())
        elif not terminal and _rank(fact.milestone) < _rank(order.status):
            behind = True
            if known_since is not None:
                lag = max(0.0, (now - known_since).total_seconds())
        views.append(
            SourceView(
                role=role,
                label=role_label(role),
                system=fact.system,
                raw_status=fact.raw_status,
                milestone=fact.milestone,
                milestone_label=str(fact.get_milestone_display()) if fact.milestone else "",
                occurred_at=fact.occurred_at,
                received_at=fact.received_at,
                lag_seconds=round(lag, 1) if lag is not None else None,
                behind=behind,
            )
        )
    return tuple(views)


def _evidence_pairs(evidence: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(evidence, dict):
        return (("", str(evidence)),) if evidence else ()
    return tuple((str(key), str(value)) for key, value in sorted(evidence.items()))


def order_page_get(*, order: Order, now: datetime | None = None) -> OrderPage:
    """Everything the staff order page shows. A fixed number of queries for any order."""
    now = now or timezone.now()
    facts = list(StatusFact.objects.filter(order=order).order_by("occurred_at", "id"))
    anomalies = [
        AnomalyView(
            pk=anomaly.pk,
            kind=anomaly.kind,
            label=anomaly_kind_label(anomaly.kind),
            opened_at=anomaly.opened_at,
            evidence_at=anomaly.evidence_at,
            deadline=anomaly.deadline,
            seconds_left=(
                round((anomaly.deadline - now).total_seconds())
                if anomaly.deadline is not None
                else None
            ),
            evidence=_evidence_pairs(anomaly.evidence),
            actions=tuple(str(action) for action in (anomaly.actions or [])),
        )
        for anomaly in Anomaly.objects.filter(order_id=order.pk, resolved_at__isnull=True).order_by(
            "deadline", "opened_at", "id"
        )
    ]
    tracking = tuple(TrackingEvent.objects.filter(order=order).order_by("-occurred_at", "-id"))
    lines = tuple(story_lines(order=order))
    return OrderPage(
        order=order,
        sources=order_sources(order=order, facts=facts, now=now),
        anomalies=tuple(anomalies),
        tracking=tracking,
        lines=lines,
        summary=story_summary(order=order, lines=lines),
    )
