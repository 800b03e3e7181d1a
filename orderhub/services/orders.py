from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder
from orderhub.exceptions import OrderNotFoundError, OrderPermissionError, OrderTransitionError
from orderhub.models import TRANSITION_TO, Order, OrderLine
from orderhub.registry import Registry
from orderhub.services.facts import apply_fact_locked
from orderhub.services.lifecycle import actor_label, step
from orderhub.services.tracking import tracking_attach_locked
from orderhub.services.work import OrderWork
from orderhub.sql import pairs_q, rows_copy
from traceability.services import LedgerEventIn, ledger_append

# Work another app does when orders are created, in the creating transaction: called once per
# ``orders_upsert_locked`` as hook(created orders, work) after the items are applied, with the
# orders locked; writes go through ``work`` or are set-wise (the facts API applies the facts
# that waited for these orders). No I/O.
OrderCreatedHook = Callable[[Sequence[Order], OrderWork], None]
order_created_hooks: Registry[OrderCreatedHook] = Registry("order created hooks")


def order_transition(
    *,
    order_id: int,
    target: str,
    user: Any | None = None,
    source: str = "system",
    reason: str = "",
) -> Order:
    """Move one order to ``target`` by its single transition.

    Locks the order row. Already in ``target`` → returns quietly (idempotent). A transition
    not allowed from the current status raises ``OrderTransitionError``; when ``user`` is given
    it must hold the transition's permission, otherwise ``OrderPermissionError`` is raised and
    the refused attempt is kept in the ledger.
    """
    try:
        return _order_transition(
            order_id=order_id, target=target, user=user, source=source, reason=reason
        )
    except OrderPermissionError as exc:
        with transaction.atomic():
            ledger_append(
                action="order.transition_denied",
                actor=actor_label(user, source),
                order_id=order_id,
                subject_type="order",
                subject_id=order_id,
                source_system=source,
                before={"status": exc.current},
                after={"requested": target},
            )
        raise


@transaction.atomic
def _order_transition(
    *, order_id: int, target: str, user: Any | None, source: str, reason: str
) -> Order:
    try:
        order = Order.objects.select_for_update().get(pk=order_id)
    except Order.DoesNotExist:
        raise OrderNotFoundError(f"order {order_id} does not exist") from None
    if order.status == target:
        return order
    if target not in Milestone.values:
        raise ValueError(f"unknown status {target!r}")
    if target not in TRANSITION_TO or not can_proceed(getattr(order, TRANSITION_TO[target])):
        raise OrderTransitionError(order_id=order.pk, current=order.status, target=target)
    method = getattr(order, TRANSITION_TO[target])
    if user is not None and not has_transition_perm(method, user):
        raise OrderPermissionError(
            f"{user} may not move order {order_id} to {target}", current=order.status
        )
    work = OrderWork()
    step(
        order,
        target=target,
        user=user,
        source=source,
        reason=reason or f"manual: {order.status} → {target}",
        work=work,
    )
    work.flush()
    return order


@dataclass(frozen=True, slots=True)
class UpsertItem:
    """One order as one message describes it, with who sent it."""

    normalized: NormalizedOrder
    source: str = "system"
    user: Any | None = None


@transaction.atomic
def order_upsert(
    *, normalized: NormalizedOrder, user: Any | None = None, source: str = "system"
) -> Order:
    """Create or update the canonical order a channel message describes, then apply its facts.

    Converges whatever the delivery order: fields the message does not carry (``None``) are
    left as they are; lines are replaced only when the message lists them; each fact is
    applied once (``status_fact_record`` semantics). Locks the order row.
    """
    work = OrderWork()
    [order] = orders_upsert_locked(
        [UpsertItem(normalized=normalized, source=source, user=user)], work=work
    )
    work.flush()
    return order


def orders_upsert_locked(items: Sequence[UpsertItem], *, work: OrderWork) -> list[Order]:
    """``order_upsert`` for many items in the caller's transaction, written by ``work``.

    Items are applied in the given order, as if one after the other: several items may name
    the same order. The orders are locked in (channel, external id) order, the missing ones
    created with one INSERT; lines and stored fact keys are read once for all. Returns the
    order of each item. The caller runs ``work.flush()`` before committing.
    """
    known_before = set(work.created_ids)
    fact_count = sum(len(item.normalized.facts) for item in items)
    orders = _orders_lock_or_create(items, work=work, fact_count=fact_count)
    existing = [order.pk for order in orders.values() if order.pk not in work.created_ids]
    work.fact_keys_load(
        existing, (fact.dedupe_key for item in items for fact in item.normalized.facts)
    )
    work.fact_ids_reserve(fact_count)  # (no statement when the orders' creation reserved them)
    lines = _stored_lines(
        [orders[_key(item.normalized)].pk for item in items if item.normalized.lines is not None],
        skip=work.created_ids,
    )
    result = []
    tracked: dict[int, Order] = {}
    for item in items:
        order = orders[_key(item.normalized)]
        if _apply(order, item, created=work.creation_take(order), work=work, lines=lines):
            tracked[order.pk] = order
        result.append(order)
    if tracked:
        # Courier events may have arrived before the order had this waybill: apply them now.
        tracking_attach_locked(list(tracked.values()), work=work)
    created = [order for order in orders.values() if order.pk in work.created_ids - known_before]
    if created:
        for _name, hook in order_created_hooks.items():
            hook(created, work)
    return result


Key = tuple[str, str]
LineRow = tuple[int, str, int, Decimal, str]


def _key(normalized: NormalizedOrder) -> Key:
    return (normalized.channel, normalized.external_id)


# Times a channel message may carry itself (its own clock), and their received-at twins.
_CARRIED_TIMES = (("placed_at", "placed_received_at"), ("paid_at", "paid_received_at"))


def _values(normalized: NormalizedOrder) -> dict[str, Any]:
    """The order fields a message sets. ``placed_at`` and ``paid_at`` are the channel's own
    times (e.g. Shopify's ``created_at``), not ours; see ``_received_stamp``."""
    values = {
        name: getattr(normalized, name)
        for name in NormalizedOrder.SCALAR_FIELDS
        if getattr(normalized, name) is not None
    }
    phone = normalized.receiver_phone or normalized.buyer_phone
    if phone:
        values["phone_tail"] = "".join(ch for ch in phone if ch.isdigit())[-4:]
    return values


def _received_stamp(order: Order, *, now: datetime) -> list[str]:
    """Stamp ``paid_received_at`` (and ``placed_received_at``) the first time the message's
    own ``paid_at`` (``placed_at``) is set: when OrderHub learned it. Returns the fields set.

    A later message may correct the channel's time itself; its received-at stays the first.
    """
    stamped = []
    for at_field, received_field in _CARRIED_TIMES:
        if getattr(order, at_field) is not None and getattr(order, received_field) is None:
            setattr(order, received_field, now)
            stamped.append(received_field)
    return stamped


def _orders_locked(keys: Sequence[Key]) -> dict[Key, Order]:
    if not keys:
        return {}  # (an empty Q would lock every order)
    condition = pairs_q("channel", "external_id", keys)
    query = Order.objects.select_for_update().filter(condition).order_by("channel", "external_id")
    return {(order.channel, order.external_id): order for order in query}


# Every column of a new order, read from the instance in one call.
_ORDER_FIELDS = tuple(Order._meta.concrete_fields)
_ORDER_COLUMNS = tuple(f.column for f in _ORDER_FIELDS)
_ORDER_VALUES = attrgetter(*(f.attname for f in _ORDER_FIELDS))


def _orders_insert(orders: Sequence[Order], *, work: OrderWork, fact_count: int) -> None:
    """INSERT new orders with one COPY, their ids reserved first (with the ids of the facts to
    come, in the same statement). Leaves them as ``bulk_create`` would: saved, with ids,
    ``created_at`` and ``updated_at`` set. A conflicting order refuses them all
    (``IntegrityError``)."""
    now = timezone.now()
    for order, pk in zip(
        orders, work.order_ids_reserve(len(orders), facts=fact_count), strict=True
    ):
        order.pk = pk
        order.created_at = now
        order.updated_at = now
    with connection.cursor() as cursor:
        rows_copy(cursor, Order._meta.db_table, _ORDER_COLUMNS, map(_ORDER_VALUES, orders))
    for order in orders:
        order._state.adding = False
        order._state.db = connection.alias


def _orders_lock_or_create(
    items: Sequence[UpsertItem], *, work: OrderWork, fact_count: int = 0
) -> dict[Key, Order]:
    """Lock the items' orders, creating the missing ones from the first item naming each."""
    first: dict[Key, UpsertItem] = {}
    for item in items:
        first.setdefault(_key(item.normalized), item)
    orders = _orders_locked(sorted(first))
    while missing := sorted(key for key in first if key not in orders):
        now = timezone.now()
        new = [
            Order(
                channel=key[0],
                external_id=key[1],
                placed_received_at=now,  # when OrderHub first stored the order
                **_values(first[key].normalized),
            )
            for key in missing
        ]
        for order in new:
            _received_stamp(order, now=now)
        try:
            with transaction.atomic():
                _orders_insert(new, work=work, fact_count=fact_count)
        except IntegrityError:
            # Another worker committed some of them since our look-up: lock theirs and insert
            # the rest. Each round finds at least the one that conflicted.
            found = _orders_locked(missing)
            if not found:
                raise
            orders.update(found)
            continue
        for key, order in zip(missing, new, strict=True):
            item = first[key]
            work.order_created(order, user=item.user, reason=f"created from {item.source}")
            orders[key] = order
    return orders


def _stored_lines(order_ids: Sequence[int], *, skip: set[int]) -> dict[int, list[LineRow]]:
    ids = set(order_ids) - skip
    lines: dict[int, list[LineRow]] = {order_id: [] for order_id in ids}
    if ids:
        rows = (
            OrderLine.objects.filter(order_id__in=ids)
            .order_by("order_id", "line_no")
            .values_list("order_id", "line_no", "sku", "quantity", "unit_price", "title")
        )
        for order_id, *line in rows:
            lines[order_id].append(tuple(line))  # type: ignore[arg-type]
    return lines


def _created_after(order: Order) -> dict[str, str]:
    """The ``order.created`` event's ``after``: the key and the initial values of the fields
    ``ledger_verify`` replays (status, warehouse code, carrier, tracking number; "" for none)."""
    return {
        "channel": order.channel,
        "external_id": order.external_id,
        "status": str(order.status),
        "warehouse": order.warehouse.code if order.warehouse is not None else "",
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
    }


def _apply(
    order: Order,
    item: UpsertItem,
    *,
    created: bool,
    work: OrderWork,
    lines: dict[int, list[LineRow]],
) -> bool:
    """One item on its locked order: fields, lines, then facts oldest first. ``created``: the
    order was created from this item. True when the order's tracking number became known or
    changed."""
    normalized, user, source = item.normalized, item.user, item.source
    changed: dict[str, tuple[str, str]] = {}
    if not created:
        for name, value in _values(normalized).items():
            if getattr(order, name) != value:
                changed[name] = (str(getattr(order, name)), str(value))
                setattr(order, name, value)
        if changed:
            stamped = _received_stamp(order, now=timezone.now())
            work.order_changed(
                order, [*changed, *stamped], user=user, reason=f"updated from {source}"
            )

    lines_changed = False
    if normalized.lines is not None:
        wanted = [
            (line.line_no, line.sku, line.quantity, line.unit_price, line.title)
            for line in normalized.lines
        ]
        if created:  # a new order has no lines yet: it gets these, if any
            lines_changed = bool(wanted)
            if lines_changed:
                work.lines_add(order, normalized.lines)
        else:
            lines_changed = lines.get(order.pk, []) != wanted
            if lines_changed:
                work.lines_replace(order, normalized.lines)
        lines[order.pk] = wanted

    if created or changed or lines_changed:
        work.ledger.append(
            LedgerEventIn(
                action="order.created" if created else "order.updated",
                actor=actor_label(user, source),
                order_id=order.pk,
                subject_type="order",
                subject_id=order.pk,
                source_system=source,
                before={name: old for name, (old, _new) in changed.items()},
                after=_created_after(order)
                if created
                else {name: new for name, (_old, new) in changed.items()},
                references={"lines_replaced": lines_changed},
            )
        )
    for fact in sorted(normalized.facts, key=lambda f: f.occurred_at):
        apply_fact_locked(order, fact, user=user, work=work)
    return bool(order.tracking_number) and (created or "tracking_number" in changed)
