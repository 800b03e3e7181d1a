"""Every write to the order domain goes through these services."""

from orderhub.services.actions import (
    order_cancel,
    order_note_set,
    order_priority_set,
    order_tracking_set,
    order_warehouse_assign,
)
from orderhub.services.facts import status_fact_record, status_facts_reapply
from orderhub.services.orders import order_transition, order_upsert

__all__ = [
    "order_cancel",
    "order_note_set",
    "order_priority_set",
    "order_tracking_set",
    "order_transition",
    "order_upsert",
    "order_warehouse_assign",
    "status_fact_record",
    "status_facts_reapply",
]
