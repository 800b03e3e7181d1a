from __future__ import annotations

from datetime import datetime

from celery import shared_task

from orderhub.domain import StatusFactIn
from orderhub.exceptions import OrderNotFoundError
from orderhub.services import status_fact_record
from orderhub.services.stock import stock_release_for_order, stock_reserve_for_order


@shared_task(name="orderhub.status_fact_record", acks_late=True)
def status_fact_record_task(
    *, order_id: int, system: str, raw_status: str, milestone: str | None, occurred_at: str
) -> dict[str, str] | None:
    """Record a status fact reported by an internal system. Safe to run twice."""
    fact = StatusFactIn(
        system=system,
        raw_status=raw_status,
        milestone=milestone,
        occurred_at=datetime.fromisoformat(occurred_at),
    )
    try:
        row = status_fact_record(order_id=order_id, fact=fact)
    except OrderNotFoundError:
        return None
    return {"outcome": row.outcome, "status_after": row.status_after}


@shared_task(name="orderhub.stock_reserve_for_order", acks_late=True)
def stock_reserve_for_order_task(*, order_id: int) -> str:
    """Reserve a paid order's stock (or record its shortage). Safe to run twice."""
    return stock_reserve_for_order(order_id=order_id)


@shared_task(name="orderhub.stock_release_for_order", acks_late=True)
def stock_release_for_order_task(*, order_id: int) -> int:
    """Release a cancelled order's stock. Safe to run twice."""
    return stock_release_for_order(order_id=order_id)
