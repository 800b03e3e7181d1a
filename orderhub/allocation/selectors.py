"""Reads of allocation. Nothing here writes."""

from __future__ import annotations

from django.db.models import QuerySet

from orderhub.models import Allocation, Offer, Warehouse


def offers_open_for_warehouse(warehouse: Warehouse) -> QuerySet[Offer]:
    """The warehouse's open offers, oldest first, with their orders loaded."""
    return (
        Offer.objects.filter(warehouse=warehouse, withdrawn_at__isnull=True)
        .select_related("order")
        .order_by("offered_at", "id")
    )


def allocations_of_order(order_id: int) -> QuerySet[Allocation]:
    return (
        Allocation.objects.filter(order_id=order_id)
        .select_related("warehouse", "wave")
        .order_by("sequence")
    )
