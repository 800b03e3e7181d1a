"""Stock: levels reported by the warehouses' systems, reservations for paid orders, shortages.

Locks: an order row first, then stock rows in (warehouse, SKU) order, so two orders competing
for one SKU never deadlock. Reserving and releasing run in Celery tasks queued after the
commit that paid or cancelled the order (``orderhub.stock_hooks``); both can run twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from orderhub.choices import Milestone
from orderhub.domain import StatusFactIn
from orderhub.models import (
    Order,
    OrderLine,
    ReservationStatus,
    StockLevel,
    StockReservation,
    StockShortage,
    Warehouse,
)
from orderhub.services.facts import status_fact_record
from orderhub.services.lifecycle import actor_label
from orderhub.services.work import OrderWork
from traceability.services import LedgerEventIn, ledger_append

STOCK_SYSTEM = "orderhub:stock"


@dataclass(frozen=True, slots=True)
class StockLevelIn:
    warehouse: str
    sku: str
    on_hand: int


class StockInputError(Exception):
    """A level names a warehouse that does not exist. ``errors``: ``{index: {field: [...]}}``."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


@transaction.atomic
def stock_levels_report(
    *, levels: Sequence[StockLevelIn], source: str, user: Any | None = None
) -> int:
    """Store what a system says is on hand: one upsert statement for all levels.

    ``on_hand`` replaces the stored figure; ``reserved`` (OrderHub's own) is kept. A SKU named
    twice keeps the last figure. Unknown warehouse → ``StockInputError``, nothing stored.
    Returns the number of levels stored.
    """
    codes = {level.warehouse for level in levels}
    warehouses = dict(Warehouse.objects.filter(code__in=codes).values_list("code", "pk"))
    errors = {
        index: {"warehouse": [f"warehouse {level.warehouse} does not exist"]}
        for index, level in enumerate(levels)
        if level.warehouse not in warehouses
    }
    if errors:
        raise StockInputError(errors)
    now = timezone.now()
    rows = {
        (warehouses[level.warehouse], level.sku): StockLevel(
            warehouse_id=warehouses[level.warehouse],
            sku=level.sku,
            on_hand=level.on_hand,
            updated_at=now,
            source=source,
        )
        for level in levels
    }
    StockLevel.objects.bulk_create(
        [rows[key] for key in sorted(rows)],
        update_conflicts=True,
        unique_fields=["warehouse", "sku"],
        update_fields=["on_hand", "updated_at", "source"],
    )
    ledger_append(
        action="stock.levels_reported",
        actor=actor_label(user, source),
        subject_type="stock",
        subject_id=source,
        source_system=source,
        after={"levels": len(rows), "warehouses": sorted(codes)},
    )
    return len(rows)


@transaction.atomic
def stock_reserve_for_order(*, order_id: int) -> str:
    """Reserve the paid order's lines in one warehouse, or record what is missing.

    Warehouse: the order's, else the first active warehouse (by code) that has every line
    available (then assigned to the order, ``order.warehouse_assigned``). Locks the order, then
    the stock rows in (warehouse, SKU) order; reserves with conditional UPDATEs
    (``on_hand - reserved >= quantity``). Success: reservations, a ``stock.reserved`` event and
    a ``stock_locked`` fact from ``orderhub:stock``. Failure: one open ``StockShortage`` per
    SKU with the missing quantity and a ``stock.shortage`` event; nothing reserved.

    Returns ``reserved``, ``short``, ``already`` (reserved before: idempotent), ``untracked``
    (no system reports stock of these SKUs, or no lines), ``skipped`` (cancelled/returned) or
    ``gone``.
    """
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        return "gone"
    if order.status in (Milestone.CANCELLED, Milestone.RETURNED):
        return "skipped"
    if StockReservation.objects.filter(order=order, status=ReservationStatus.RESERVED).exists():
        return "already"
    wanted = dict(
        OrderLine.objects.filter(order=order)
        .values("sku")
        .annotate(quantity=Sum("quantity"))
        .order_by("sku")
        .values_list("sku", "quantity")
    )
    if not wanted or not StockLevel.objects.filter(sku__in=wanted).exists():
        return "untracked"
    warehouse_id = order.warehouse_id or _warehouse_choose(wanted)
    if warehouse_id is None:
        return "untracked"
    levels = {
        level.sku: level
        for level in StockLevel.objects.select_for_update()
        .filter(warehouse_id=warehouse_id, sku__in=wanted)
        .order_by("warehouse_id", "sku")
    }
    now = timezone.now()
    code = Warehouse.objects.values_list("code", flat=True).get(pk=warehouse_id)
    missing = {
        sku: quantity - max(_available(levels.get(sku)), 0)
        for sku, quantity in wanted.items()
        if _available(levels.get(sku)) < quantity
    }
    if not missing:
        for sku, quantity in sorted(wanted.items()):
            updated = StockLevel.objects.filter(
                pk=levels[sku].pk, on_hand__gte=F("reserved") + quantity
            ).update(reserved=F("reserved") + quantity)
            if not updated:  # cannot happen under the row lock; refuse rather than oversell
                raise RuntimeError(f"stock of {sku} in {code} changed under its lock")
        StockReservation.objects.bulk_create(
            StockReservation(order=order, warehouse_id=warehouse_id, sku=sku, quantity=quantity)
            for sku, quantity in sorted(wanted.items())
        )
        StockShortage.objects.filter(order=order, resolved_at__isnull=True).update(resolved_at=now)
        if order.warehouse_id is None:
            _warehouse_assign(order, warehouse_id=warehouse_id, code=code)
        ledger_append(
            action="stock.reserved",
            actor=STOCK_SYSTEM,
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=STOCK_SYSTEM,
            after={"warehouse": code, "reserved": dict(sorted(wanted.items()))},
        )
        status_fact_record(
            order_id=order.pk,
            fact=StatusFactIn(
                system=STOCK_SYSTEM,
                raw_status="stock_locked",
                milestone=Milestone.STOCK_LOCKED,
                occurred_at=now,
                note=f"reserved in {code}",
            ),
        )
        return "reserved"
    StockShortage.objects.bulk_create(
        [
            StockShortage(
                order=order, sku=sku, warehouse_id=warehouse_id, missing=count, opened_at=now
            )
            for sku, count in sorted(missing.items())
        ],
        ignore_conflicts=True,  # one open shortage per (order, SKU): a rerun adds nothing
    )
    ledger_append(
        action="stock.shortage",
        actor=STOCK_SYSTEM,
        order_id=order.pk,
        subject_type="order",
        subject_id=order.pk,
        source_system=STOCK_SYSTEM,
        after={"warehouse": code, "missing": dict(sorted(missing.items()))},
    )
    return "short"


@transaction.atomic
def stock_release_for_order(*, order_id: int) -> int:
    """Give back what the order holds (on cancel) and resolve its open shortages.

    Locks the order, its reservations, then the stock rows in (warehouse, SKU) order.
    Returns the number of reservations released; 0 when there is nothing to release
    (idempotent).
    """
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        return 0
    now = timezone.now()
    StockShortage.objects.filter(order=order, resolved_at__isnull=True).update(resolved_at=now)
    reservations = list(
        StockReservation.objects.select_for_update()
        .filter(order=order, status=ReservationStatus.RESERVED)
        .order_by("warehouse_id", "sku")
    )
    if not reservations:
        return 0
    condition = Q()
    for reservation in reservations:
        condition |= Q(warehouse_id=reservation.warehouse_id, sku=reservation.sku)
    levels = {
        (level.warehouse_id, level.sku): level
        for level in StockLevel.objects.select_for_update()
        .filter(condition)
        .order_by("warehouse_id", "sku")
    }
    for reservation in reservations:
        level = levels.get((reservation.warehouse_id, reservation.sku))
        if level is not None:
            StockLevel.objects.filter(pk=level.pk).update(
                reserved=Greatest(F("reserved") - reservation.quantity, 0)
            )
        reservation.status = ReservationStatus.RELEASED
        reservation.released_at = now
    StockReservation.objects.bulk_update(reservations, ["status", "released_at"])
    ledger_append(
        action="stock.released",
        actor=STOCK_SYSTEM,
        order_id=order.pk,
        subject_type="order",
        subject_id=order.pk,
        source_system=STOCK_SYSTEM,
        after={"released": {r.sku: r.quantity for r in reservations}},
    )
    return len(reservations)


def _available(level: StockLevel | None) -> int:
    return level.on_hand - level.reserved if level is not None else 0


def _warehouse_choose(wanted: dict[str, int]) -> int | None:
    """The first active warehouse (by code) with every SKU available; else the first with a
    level for every SKU; else the first active one (one query)."""
    rows = StockLevel.objects.filter(warehouse__is_active=True, sku__in=wanted).values_list(
        "warehouse_id", "sku", "on_hand", "reserved"
    )
    known: dict[int, dict[str, int]] = defaultdict(dict)
    for warehouse_id, sku, on_hand, reserved in rows:
        known[warehouse_id][sku] = on_hand - reserved
    active = list(
        Warehouse.objects.filter(is_active=True).order_by("code").values_list("pk", flat=True)
    )
    for warehouse_id in active:
        have = known.get(warehouse_id, {})
        if all(have.get(sku, 0) >= quantity for sku, quantity in wanted.items()):
            return warehouse_id
    for warehouse_id in active:
        if set(wanted) <= set(known.get(warehouse_id, {})):
            return warehouse_id
    return active[0] if active else None


def _warehouse_assign(order: Order, *, warehouse_id: int, code: str) -> None:
    """Give the locked order the warehouse its stock was reserved in (shared ledger contract).

    TODO(after merge): call ``orderhub.services.actions.order_warehouse_assign`` instead.
    """
    order.warehouse_id = warehouse_id
    work = OrderWork()
    reason = f"stock reserved in {code}"
    work.order_changed(order, ["warehouse"], user=None, reason=reason)
    work.ledger.append(
        LedgerEventIn(
            action="order.warehouse_assigned",
            actor=STOCK_SYSTEM,
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=STOCK_SYSTEM,
            before={"warehouse": ""},
            after={"warehouse": code},
            references={"reason": reason},
        )
    )
    work.flush()
