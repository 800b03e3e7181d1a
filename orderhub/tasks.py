from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from celery import shared_task

from orderhub.domain import StatusFactIn
from orderhub.exceptions import OrderNotFoundError
from orderhub.services import status_fact_record
from orderhub.services.stock import stock_release_for_order, stock_reserve_for_order

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
    """Reserve a paid order's stock (or record its shortage). Safe to run twice. (The hooks
    queue ``stock_reserve_for_orders_task``; this one stays for messages already queued.)"""
    return stock_reserve_for_order(order_id=order_id)


@shared_task(name="orderhub.stock_release_for_order", acks_late=True)
def stock_release_for_order_task(*, order_id: int) -> int:
    """Release a cancelled order's stock. Safe to run twice."""
    return stock_release_for_order(order_id=order_id)


def _each_order(order_ids: list[int], service: Callable[..., T]) -> dict[str, T]:
    """``service(order_id=...)`` for each order in its own transaction, in the given order.
    One order's error does not stop the others: they all run, then the first error is
    raised (the task fails as a one-order task would)."""
    results: dict[str, T] = {}
    first_error: Exception | None = None
    for order_id in dict.fromkeys(order_ids):
        try:
            results[str(order_id)] = service(order_id=order_id)
        except Exception as exc:  # the other orders still run; re-raised below
            logger.warning("orderhub.stock_task_failed order=%s error=%r", order_id, exc)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results


@shared_task(name="orderhub.stock_reserve_for_orders", acks_late=True, ignore_result=True)
def stock_reserve_for_orders_task(*, order_ids: list[int]) -> dict[str, str]:
    """Reserve the stock of the orders one flush paid, each in its own transaction (one
    message per flush instead of one per order). Safe to run twice."""
    return _each_order(order_ids, stock_reserve_for_order)


@shared_task(name="orderhub.stock_release_for_orders", acks_late=True, ignore_result=True)
def stock_release_for_orders_task(*, order_ids: list[int]) -> dict[str, int]:
    """Release the stock of the orders one flush cancelled, each in its own transaction.
    Safe to run twice."""
    return _each_order(order_ids, stock_release_for_order)
