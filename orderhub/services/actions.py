"""The changes a person may make to an order by hand, one service each.

Channel data, amounts, addresses and times belong to the channel and are never edited here.
What a person may change: the warehouse, the carrier and tracking number, the priority, the
internal note, and the status (``order_transition``; ``order_cancel`` with a reason).

Every service: locks the order row (``select_for_update``), checks that ``user`` (when given)
may see the order and holds the action's permission, validates, saves the changed fields with
``save(update_fields=...)`` so simple-history keeps a row with the actor and reason, and appends
one ledger event with the old and new values. The same value again returns quietly: no write,
no history row, no event. An order another warehouse works on is "not found" for the user.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from orderhub.choices import Milestone, Priority
from orderhub.exceptions import (
    OrderActionError,
    OrderActionPermissionError,
    OrderNotFoundError,
    OrderPermissionError,
)
from orderhub.models import Order, Warehouse
from orderhub.selectors import order_visible_to
from orderhub.services.lifecycle import actor_label
from orderhub.services.orders import order_transition
from orderhub.services.tracking import tracking_attach_locked
from orderhub.services.work import OrderWork
from traceability.services import ledger_append

_CARRIER_MAX = Order._meta.get_field("carrier").max_length or 64
_TRACKING_MAX = Order._meta.get_field("tracking_number").max_length or 64


def _order_locked(*, order_id: int, user: Any | None, permission: str) -> Order:
    """The order row, locked; refused when ``user`` may not see it or lacks ``permission``."""
    try:
        order = Order.objects.select_for_update().get(pk=order_id)
    except Order.DoesNotExist:
        raise OrderNotFoundError(f"order {order_id} does not exist") from None
    if user is not None:
        if not order_visible_to(user, Order.objects.filter(pk=order_id)).exists():
            raise OrderNotFoundError(f"order {order_id} does not exist")
        if not user.has_perm(permission):
            raise OrderActionPermissionError(
                f"{user.get_username()} may not do this ({permission})"
            )
    return order


def _save(order: Order, fields: list[str], *, user: Any | None, source: str, reason: str) -> None:
    """Save ``fields`` (and ``updated_at``); simple-history records the row with the actor."""
    order._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    order._change_reason = reason or source  # type: ignore[attr-defined]
    order.save(update_fields=[*fields, "updated_at"])


def _event(
    order: Order,
    *,
    action: str,
    user: Any | None,
    source: str,
    reason: str,
    before: dict[str, str],
    after: dict[str, str],
) -> None:
    ledger_append(
        action=action,
        actor=actor_label(user, source),
        order_id=order.pk,
        subject_type="order",
        subject_id=order.pk,
        source_system=source,
        before=before,
        after=after,
        references={"reason": reason},
    )


@transaction.atomic
def order_warehouse_assign(
    *,
    order_id: int,
    warehouse_code: str,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> Order:
    """Assign the order to the warehouse ``warehouse_code`` ("" takes it off any warehouse).

    Requires ``orderhub.assign_warehouse``. A user who works for warehouses may only assign
    within them (never to none, never elsewhere). Unknown or inactive warehouse →
    ``OrderActionError``. Ledger event ``order.warehouse_assigned`` with before/after
    ``warehouse`` as codes ("" for none).
    """
    order = _order_locked(order_id=order_id, user=user, permission="orderhub.assign_warehouse")
    code = warehouse_code.strip()
    warehouse: Warehouse | None = None
    if code:
        warehouse = Warehouse.objects.filter(code=code).first()
        if warehouse is None:
            raise OrderActionError(f"unknown warehouse {code!r}")
        if not warehouse.is_active:
            raise OrderActionError(f"warehouse {code!r} is not active")
    if user is not None and not user.is_superuser:
        own = set(user.warehouses.values_list("id", flat=True))
        if own and (warehouse is None or warehouse.pk not in own):
            raise OrderActionPermissionError(
                f"{user.get_username()} may only assign orders to their own warehouses"
            )
    if order.warehouse_id == (warehouse.pk if warehouse else None):
        return order
    before = order.warehouse.code if order.warehouse is not None else ""
    order.warehouse = warehouse
    _save(order, ["warehouse"], user=user, source=source, reason=reason)
    _event(
        order,
        action="order.warehouse_assigned",
        user=user,
        source=source,
        reason=reason,
        before={"warehouse": before},
        after={"warehouse": code},
    )
    return order


@transaction.atomic
def order_tracking_set(
    *,
    order_id: int,
    carrier: str,
    tracking_number: str,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> Order:
    """Set the order's carrier and tracking number (surrounding blanks dropped; "" clears).

    Requires ``orderhub.set_tracking``. A tracking number needs a carrier. Ledger event
    ``order.tracking_set`` with before/after ``carrier`` and ``tracking_number``.
    """
    order = _order_locked(order_id=order_id, user=user, permission="orderhub.set_tracking")
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if len(carrier) > _CARRIER_MAX:
        raise OrderActionError(f"carrier is longer than {_CARRIER_MAX} characters")
    if len(tracking_number) > _TRACKING_MAX:
        raise OrderActionError(f"tracking number is longer than {_TRACKING_MAX} characters")
    if tracking_number and not carrier:
        raise OrderActionError("a tracking number needs a carrier")
    if (order.carrier, order.tracking_number) == (carrier, tracking_number):
        return order
    before = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    order.carrier, order.tracking_number = carrier, tracking_number
    _save(order, ["carrier", "tracking_number"], user=user, source=source, reason=reason)
    _event(
        order,
        action="order.tracking_set",
        user=user,
        source=source,
        reason=reason,
        before=before,
        after={"carrier": carrier, "tracking_number": tracking_number},
    )
    if tracking_number:
        # Courier events that arrived before the order had this waybill apply now.
        work = OrderWork()
        tracking_attach_locked([order], work=work)
        work.flush()
    return order


@transaction.atomic
def order_priority_set(
    *,
    order_id: int,
    priority: int,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> Order:
    """Set the order's priority (a ``Priority`` value). Requires ``orderhub.set_priority``.
    Ledger event ``order.priority_set`` with before/after ``priority`` as strings."""
    order = _order_locked(order_id=order_id, user=user, permission="orderhub.set_priority")
    if priority not in Priority.values:
        raise OrderActionError(f"unknown priority {priority!r}")
    if order.priority == priority:
        return order
    before = str(order.priority)
    order.priority = priority
    _save(order, ["priority"], user=user, source=source, reason=reason)
    _event(
        order,
        action="order.priority_set",
        user=user,
        source=source,
        reason=reason,
        before={"priority": before},
        after={"priority": str(priority)},
    )
    return order


@transaction.atomic
def order_note_set(
    *,
    order_id: int,
    note: str,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> Order:
    """Replace the order's internal note (trailing blanks dropped; "" clears it). Requires
    ``orderhub.set_internal_note``. Ledger event ``order.note_set`` with before/after
    ``internal_note``."""
    order = _order_locked(order_id=order_id, user=user, permission="orderhub.set_internal_note")
    note = note.rstrip()
    if order.internal_note == note:
        return order
    before = order.internal_note
    order.internal_note = note
    _save(order, ["internal_note"], user=user, source=source, reason=reason)
    _event(
        order,
        action="order.note_set",
        user=user,
        source=source,
        reason=reason,
        before={"internal_note": before},
        after={"internal_note": note},
    )
    return order


def order_cancel(
    *, order_id: int, reason: str, user: Any | None = None, source: str = "admin"
) -> Order:
    """Cancel the order through ``order_transition`` (its permission check, ledger event
    ``order.transition`` with ``references.reason``, refusals kept as
    ``order.transition_denied``). ``reason`` is required. Already cancelled → returns quietly.
    An order ``user`` may not see → ``OrderNotFoundError``. Locks the order row."""
    reason = reason.strip()
    if not reason:
        raise OrderActionError("cancelling an order needs a reason")
    with transaction.atomic():
        # Hold the row while checking the user's scope, so the order cannot move to another
        # warehouse between the check and the transition.
        if not Order.objects.select_for_update().filter(pk=order_id).exists():
            raise OrderNotFoundError(f"order {order_id} does not exist")
        if (
            user is not None
            and not order_visible_to(user, Order.objects.filter(pk=order_id)).exists()
        ):
            raise OrderNotFoundError(f"order {order_id} does not exist")
        try:
            return order_transition(
                order_id=order_id,
                target=Milestone.CANCELLED,
                user=user,
                source=source,
                reason=reason,
            )
        except OrderPermissionError as exc:
            denied = exc  # leave the block normally: the refusal's ledger event is kept
    raise denied
