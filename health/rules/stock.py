"""Stock: an order that could not be reserved."""

from __future__ import annotations

from datetime import datetime, timedelta

from health.rules.base import Finding, OrderView, Params, Pending, Verdict, rule
from orderhub.choices import Milestone


@rule(
    "stock_shortage",
    defaults={"watch_seconds": 60, "recheck_seconds": 15, "safety_stock": 10},
)
def stock_shortage(view: OrderView, params: Params, now: datetime) -> Verdict:
    """An open ``StockShortage`` of the order. The reservation runs after the paid fact's
    commit, so a paid order is looked at again shortly (for ``watch_seconds`` after it was
    paid); it resolves when the stock is reserved (the ``stock_locked`` fact). ``safety_stock`` is
    the level the repair's replenishment work order restores (``health.repairs``)."""
    if view.shortages:
        return Finding(
            evidence={
                "shortages": [
                    {"sku": s.sku, "warehouse": s.warehouse_code, "missing": s.missing}
                    for s in view.shortages
                ]
            },
            evidence_at=min(s.opened_at for s in view.shortages),
        )
    if view.status != Milestone.PAID:
        return None
    paid = [fact.received_at for fact in view.facts if fact.milestone == Milestone.PAID]
    if paid and now < min(paid) + timedelta(seconds=float(params["watch_seconds"])):
        return Pending(next_check_at=now + timedelta(seconds=float(params["recheck_seconds"])))
    return None
