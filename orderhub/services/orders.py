from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django_fsm import can_proceed, has_transition_perm

from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder
from orderhub.exceptions import OrderNotFoundError, OrderPermissionError, OrderTransitionError
from orderhub.models import TRANSITION_TO, Order, OrderLine, Product
from orderhub.services.facts import apply_fact_locked
from orderhub.services.lifecycle import actor_label, step
from traceability.services import LedgerEventIn, ledger_append, ledger_append_many


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
    ledger: list[LedgerEventIn] = []
    step(
        order,
        target=target,
        user=user,
        source=source,
        reason=reason or f"manual: {order.status} → {target}",
        ledger=ledger,
    )
    ledger_append_many(events=ledger)
    return order


@transaction.atomic
def order_upsert(
    *, normalized: NormalizedOrder, user: Any | None = None, source: str = "system"
) -> Order:
    """Create or update the canonical order a channel message describes, then apply its facts.

    Converges whatever the delivery order: fields the message does not carry (``None``) are
    left as they are; lines are replaced only when the message lists them; each fact is
    applied once (``status_fact_record`` semantics). Locks the order row.
    """
    lookup = {"channel": normalized.channel, "external_id": normalized.external_id}
    values = {
        name: getattr(normalized, name)
        for name in NormalizedOrder.SCALAR_FIELDS
        if getattr(normalized, name) is not None
    }
    phone = normalized.receiver_phone or normalized.buyer_phone
    if phone:
        values["phone_tail"] = "".join(ch for ch in phone if ch.isdigit())[-4:]

    order = Order.objects.select_for_update().filter(**lookup).first()
    created = False
    if order is None:
        try:
            with transaction.atomic():
                order = Order(**lookup, **values)
                order._history_user = user
                order._change_reason = f"created from {source}"
                order.save()
                created = True
        except IntegrityError:
            # Another worker created it between our look-up and insert: use theirs.
            order = Order.objects.select_for_update().get(**lookup)

    changed: dict[str, tuple[str, str]] = {}
    if not created:
        for name, value in values.items():
            if getattr(order, name) != value:
                changed[name] = (str(getattr(order, name)), str(value))
                setattr(order, name, value)
        if changed:
            order._history_user = user
            order._change_reason = f"updated from {source}"
            order.save(update_fields=[*changed, "updated_at"])

    lines_changed = normalized.lines is not None and _lines_replace(
        order, normalized, new_order=created
    )
    ledger: list[LedgerEventIn] = []
    if created or changed or lines_changed:
        ledger.append(
            LedgerEventIn(
                action="order.created" if created else "order.updated",
                actor=actor_label(user, source),
                order_id=order.pk,
                subject_type="order",
                subject_id=order.pk,
                source_system=source,
                before={name: old for name, (old, _new) in changed.items()},
                after={name: new for name, (_old, new) in changed.items()}
                if not created
                else {"channel": order.channel, "external_id": order.external_id},
                references={"lines_replaced": lines_changed},
            )
        )
    for fact in sorted(normalized.facts, key=lambda f: f.occurred_at):
        apply_fact_locked(order, fact, user=user, ledger=ledger)
    ledger_append_many(events=ledger)
    return order


def _lines_replace(order: Order, normalized: NormalizedOrder, *, new_order: bool) -> bool:
    """Replace the order's lines with the message's when they differ (a new order has none)."""
    assert normalized.lines is not None
    if not new_order:
        wanted = [
            (line.line_no, line.sku, line.quantity, line.unit_price, line.title)
            for line in normalized.lines
        ]
        current = list(
            order.lines.order_by("line_no").values_list(
                "line_no", "sku", "quantity", "unit_price", "title"
            )
        )
        if current == wanted:
            return False
        order.lines.all().delete()
    if not normalized.lines:
        return not new_order
    products = Product.objects.in_bulk([line.sku for line in normalized.lines], field_name="sku")
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            line_no=line.line_no,
            product=products.get(line.sku),
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for line in normalized.lines
    )
    return True
