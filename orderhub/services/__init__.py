"""Every write to the order domain goes through these services."""

from orderhub.services.facts import status_fact_record, status_facts_reapply
from orderhub.services.orders import order_transition, order_upsert

__all__ = ["order_transition", "order_upsert", "status_fact_record", "status_facts_reapply"]
