"""Reads of the order domain. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from orderhub.models import Order, StatusFact, Warehouse


def order_visible_to(user: Any, queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
    """Orders a staff member may see: all for superusers and for users who work for no
    warehouse (head office), otherwise only orders won by their warehouses."""
    queryset = Order.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    warehouse_ids = list(user.warehouses.values_list("id", flat=True))
    if not warehouse_ids:
        return queryset if user.has_perm("orderhub.view_order") else queryset.none()
    return queryset.filter(warehouse_id__in=warehouse_ids)


def order_find(*, reference: str, queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
    """Orders matching any identifier a person may have: internal id, channel order id,
    ``channel:external_id``, tracking number or the last four digits of a phone."""
    reference = reference.strip()
    queryset = Order.objects.all() if queryset is None else queryset
    condition = Q(external_id=reference) | Q(tracking_number=reference)
    if reference.isdigit():
        condition |= Q(pk=int(reference)) if len(reference) < 19 else Q()
        if len(reference) == 4:
            condition |= Q(phone_tail=reference)
    if ":" in reference:
        channel, external_id = reference.split(":", 1)
        condition |= Q(channel=channel, external_id=external_id)
    return queryset.filter(condition)


@dataclass(frozen=True)
class SystemStatus:
    system: str
    raw_status: str
    milestone: str
    milestone_label: str
    occurred_at: Any
    received_at: Any
    outcome: str
    fact_count: int
    outcome_label: str = ""


def order_status_by_system(*, order: Order) -> list[SystemStatus]:
    """The latest statement of every system about one order, side by side."""
    latest: dict[str, StatusFact] = {}
    counts: dict[str, int] = {}
    for fact in StatusFact.objects.filter(order=order).order_by("occurred_at", "id"):
        latest[fact.system] = fact
        counts[fact.system] = counts.get(fact.system, 0) + 1
    return [
        SystemStatus(
            system=system,
            raw_status=fact.raw_status,
            milestone=fact.milestone,
            milestone_label=str(fact.get_milestone_display()) if fact.milestone else "",
            occurred_at=fact.occurred_at,
            received_at=fact.received_at,
            outcome=fact.outcome,
            fact_count=counts[system],
            outcome_label=str(fact.get_outcome_display()),
        )
        for system, fact in sorted(latest.items())
    ]


def warehouse_visible_to(
    user: Any, queryset: QuerySet[Warehouse] | None = None
) -> QuerySet[Warehouse]:
    """Warehouses a staff member works with: their own when they work for any warehouse,
    otherwise (superusers, head office) all of them."""
    queryset = Warehouse.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    warehouse_ids = list(user.warehouses.values_list("id", flat=True))
    return queryset.filter(id__in=warehouse_ids) if warehouse_ids else queryset
