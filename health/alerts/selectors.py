"""Reads of the alerts app (nothing here writes). The board lists ``incidents_open_for``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from health.alerts.choices import IncidentStatus
from health.alerts.metrics import metrics
from health.alerts.models import AlertRule, Incident


def incidents_visible_to(
    user: Any, queryset: QuerySet[Incident] | None = None
) -> QuerySet[Incident]:
    """All incidents for superusers and head-office staff (no warehouse); a warehouse user
    sees only the incidents about its warehouses."""
    queryset = Incident.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    warehouse_ids = list(user.warehouses.values_list("id", flat=True))
    if not warehouse_ids:
        return queryset
    return queryset.filter(warehouse_id__in=warehouse_ids)


def incidents_open_for(user: Any, *, limit: int = 50) -> list[Incident]:
    """Open and acknowledged incidents ``user`` may see, newest first (bounded: one query)."""
    queryset = Incident.objects.filter(
        status__in=[IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED]
    ).select_related("rule", "warehouse", "acknowledged_by")
    return list(incidents_visible_to(user, queryset).order_by("-opened_at", "-id")[:limit])


def rule_metric_available(rule: AlertRule) -> bool:
    return metrics.known(rule.metric) and metrics.available(rule.metric)
