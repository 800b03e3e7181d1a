"""Every write of allocation: offers, first-claim-wins claims, certificates, lease release.

Lock order, everywhere: the allocation row (inserted or ``FOR UPDATE``), then the order row,
then the warehouse row (waves). The sweep never waits for a lock (``SKIP LOCKED``), so it
cannot deadlock with a claim or a fact.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from orderhub.allocation import certificates, conf
from orderhub.allocation.certificates import Certificate
from orderhub.choices import Milestone
from orderhub.exceptions import OrderError
from orderhub.models import (
    Allocation,
    Offer,
    Order,
    OrderLine,
    ReservationStatus,
    StockLevel,
    StockReservation,
    Warehouse,
    WarehouseRule,
    Wave,
)
from orderhub.services.lifecycle import actor_label, step
from orderhub.services.work import OrderWork
from traceability.services import LedgerEventIn, ledger_append, ledger_append_many

logger = logging.getLogger(__name__)

SOURCE = "orderhub.allocation"
# Statuses in which an order waits for a warehouse.
CLAIMABLE = (Milestone.STOCK_LOCKED, Milestone.AWAITING_CONFIRMATION)
RELEASE_LEASE_EXPIRED = "lease expired"


class AllocationError(OrderError):
    """A claim that cannot be made (unknown or inactive warehouse, order not offered...)."""


class AllocationNotFoundError(AllocationError):
    """The warehouse or the order does not exist, or the user may not see it."""


class AllocationNotOfferedError(AllocationError):
    """The order is not offered to this warehouse and no warehouse holds it."""


class AllocationPermissionError(AllocationError):
    """The user may not claim for this warehouse."""


# --- who may act for a warehouse -----------------------------------------------------------


def user_may_act_for(user: Any, warehouse: Warehouse) -> bool:
    """Superusers and holders of ``orderhub.claim_any_warehouse`` for any warehouse; a
    warehouse's staff for their own warehouses."""
    if user.is_superuser or user.warehouses.filter(pk=warehouse.pk).exists():
        return True
    return bool(user.has_perm("orderhub.claim_any_warehouse"))


# --- offers --------------------------------------------------------------------------------


def _province_rules() -> dict[int, set[str]]:
    rules: dict[int, set[str]] = {}
    for rule in WarehouseRule.objects.filter(is_active=True):
        provinces = set(rule.province_list())
        if provinces:
            rules[rule.warehouse_id] = provinces
    return rules


def offers_open(*, order_ids: Iterable[int], now: datetime | None = None) -> int:
    """Offer each order to every eligible warehouse; returns the number of offers opened.

    Eligible: active; serves the order's province (``WarehouseRule``, none = everywhere);
    for every line whose SKU has stock tracked anywhere (``StockLevel``): holds the order's
    reservation of it when the order's stock is reserved (``orderhub.services.stock``), else
    has that much available. Skipped: orders not in a claimable status,
    orders already held or ever picked, and for each order the warehouses whose lock on it
    ran out. Runs in the caller's transaction (the orders locked by the caller); an open
    offer already there is left as it is. One ``allocation.offered`` ledger event per order
    that got offers.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    now = now or timezone.now()
    orders = list(Order.objects.filter(pk__in=ids, status__in=CLAIMABLE).values("id", "province"))
    if not orders:
        return 0
    blocked = set(
        Allocation.objects.filter(order_id__in=ids)
        .filter(released_at__isnull=True)
        .values_list("order_id", flat=True)
    ) | set(
        Allocation.objects.filter(order_id__in=ids, picked_at__isnull=False).values_list(
            "order_id", flat=True
        )
    )
    lapsed: dict[int, set[int]] = defaultdict(set)
    for order_id, warehouse_id in Allocation.objects.filter(
        order_id__in=ids, release_reason=RELEASE_LEASE_EXPIRED
    ).values_list("order_id", "warehouse_id"):
        lapsed[order_id].add(warehouse_id)
    warehouses = list(Warehouse.objects.filter(is_active=True).values_list("id", "code"))
    rules = _province_rules()
    needs: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for order_id, sku, quantity in OrderLine.objects.filter(order_id__in=ids).values_list(
        "order_id", "sku", "quantity"
    ):
        needs[order_id][sku] += quantity
    skus = {sku for lines in needs.values() for sku in lines}
    available: dict[tuple[int, str], int] = {}
    for warehouse_id, sku, on_hand, reserved in StockLevel.objects.filter(sku__in=skus).values_list(
        "warehouse_id", "sku", "on_hand", "reserved"
    ):
        available[(warehouse_id, sku)] = on_hand - reserved
    tracked = {sku for _, sku in available}
    held: dict[tuple[int, int, str], int] = defaultdict(int)
    for order_id, warehouse_id, sku, quantity in StockReservation.objects.filter(
        order_id__in=ids, status=ReservationStatus.RESERVED
    ).values_list("order_id", "warehouse_id", "sku", "quantity"):
        held[(order_id, warehouse_id, sku)] += quantity
    reserved_orders = {order_id for order_id, _, _ in held}

    offers: list[Offer] = []
    codes_by_order: dict[int, list[str]] = {}
    for order in orders:
        order_id = order["id"]
        if order_id in blocked:
            continue
        chosen: list[str] = []
        for warehouse_id, code in warehouses:
            if warehouse_id in lapsed[order_id]:
                continue
            provinces = rules.get(warehouse_id)
            if provinces is not None and order["province"] not in provinces:
                continue
            lines = [(sku, qty) for sku, qty in needs[order_id].items() if sku in tracked]
            if order_id in reserved_orders:
                # Stock is locked somewhere: only where it is locked, for every line.
                if any(held[(order_id, warehouse_id, sku)] < qty for sku, qty in lines):
                    continue
            elif any(available.get((warehouse_id, sku), 0) < qty for sku, qty in lines):
                continue
            offers.append(Offer(order_id=order_id, warehouse_id=warehouse_id, offered_at=now))
            chosen.append(code)
        if chosen:
            codes_by_order[order_id] = chosen
    Offer.objects.bulk_create(offers, ignore_conflicts=True)
    ledger_append_many(
        events=[
            LedgerEventIn(
                action="allocation.offered",
                actor=SOURCE,
                order_id=order_id,
                subject_type="order",
                subject_id=order_id,
                source_system=SOURCE,
                after={"warehouses": codes},
            )
            for order_id, codes in codes_by_order.items()
        ]
    )
    return len(offers)


def offers_withdraw(*, order_ids: Iterable[int], now: datetime | None = None) -> int:
    """Close every open offer of these orders; returns how many were open."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    return Offer.objects.filter(order_id__in=ids, withdrawn_at__isnull=True).update(
        withdrawn_at=now or timezone.now()
    )


def allocations_mark_picked(*, order_ids: Iterable[int], now: datetime | None = None) -> int:
    """The orders were picked and packed: their live locks hold for good (no lease)."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    return Allocation.objects.filter(
        order_id__in=ids, released_at__isnull=True, picked_at__isnull=True
    ).update(picked_at=now or timezone.now(), lease_until=None)


# --- claims --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """``status``: "won" (this claim won the lock now), "held" (the same warehouse won it
    before) or "taken" (another warehouse holds it). ``certificate`` is the holder's."""

    status: str
    certificate: Certificate
    allocation_id: int


_CLAIM_SQL = """
INSERT INTO orderhub_allocation
    (order_id, warehouse_id, sequence, claimed_at, claimed_by, release_reason,
     certificate_payload, certificate_signature, key_id)
SELECT %(order)s, %(warehouse)s,
       COALESCE((SELECT MAX(sequence) FROM orderhub_allocation WHERE order_id = %(order)s), 0) + 1,
       %(now)s, %(actor)s, '', '', '', ''
WHERE EXISTS (
    SELECT 1 FROM orderhub_offer
    WHERE order_id = %(order)s AND warehouse_id = %(warehouse)s AND withdrawn_at IS NULL
)
ON CONFLICT DO NOTHING
RETURNING id
"""


def _warehouse_for(*, warehouse_code: str, user: Any | None) -> Warehouse:
    warehouse = Warehouse.objects.filter(code=warehouse_code, is_active=True).first()
    if warehouse is None:
        raise AllocationNotFoundError(f"no active warehouse {warehouse_code!r}")
    if user is not None and not user_may_act_for(user, warehouse):
        raise AllocationPermissionError(
            f"{user.get_username()} may not claim for warehouse {warehouse_code!r}"
        )
    return warehouse


def _wave_join(warehouse: Warehouse, *, now: datetime) -> Wave:
    """The warehouse's open wave with this order counted in it; a full or old wave is closed
    and the next one opened. Locks the warehouse row (waves of one warehouse in turn)."""
    Warehouse.objects.select_for_update().filter(pk=warehouse.pk).first()
    wave = Wave.objects.select_for_update().filter(warehouse=warehouse, closed_at=None).first()
    oldest = now - timedelta(minutes=conf.wave_minutes())
    if wave is not None and (wave.size >= conf.wave_size() or wave.opened_at <= oldest):
        Wave.objects.filter(pk=wave.pk).update(closed_at=now)
        wave = None
    if wave is None:
        last = Wave.objects.filter(warehouse=warehouse).aggregate(n=Max("number"))["n"] or 0
        wave = Wave.objects.create(warehouse=warehouse, number=last + 1, opened_at=now)
    wave.size += 1
    closed = now if wave.size >= conf.wave_size() else None
    Wave.objects.filter(pk=wave.pk).update(size=F("size") + 1, closed_at=closed)
    return wave


@transaction.atomic
def _claim_decide(*, order_id: int, warehouse: Warehouse, user: Any | None) -> tuple[int, bool]:
    """(allocation id, won?) — the INSERT decides; the winner moves the order in the same
    transaction. Raises when nobody holds the order and it is not offered here."""
    now = timezone.now()
    actor = actor_label(user, f"warehouse:{warehouse.code}")
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {"order": order_id, "warehouse": warehouse.pk, "now": now, "actor": actor[:150]},
        )
        row = cursor.fetchone()
    if row is None:
        live = (
            Allocation.objects.filter(order_id=order_id, released_at__isnull=True)
            .values_list("id", flat=True)
            .first()
        )
        if live is None:
            if not Order.objects.filter(pk=order_id).exists():
                raise AllocationNotFoundError(f"order {order_id} does not exist")
            raise AllocationNotOfferedError(
                f"order {order_id} is not offered to warehouse {warehouse.code!r}"
            )
        return live, False
    allocation_id = int(row[0])
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in CLAIMABLE:
        raise AllocationNotOfferedError(f"order {order_id} is {order.status}, not claimable")
    wave = _wave_join(warehouse, now=now)
    source = f"warehouse:{warehouse.code}"
    reason = f"claimed by {warehouse.code}"
    before_code = order.warehouse.code if order.warehouse is not None else ""
    order.warehouse = warehouse
    work = OrderWork()
    work.order_changed(order, ["warehouse"], user=user, reason=reason)
    if before_code != warehouse.code:  # stock reserved there may have assigned it already
        work.ledger.append(
            LedgerEventIn(
                action="order.warehouse_assigned",
                actor=actor,
                order_id=order.pk,
                subject_type="order",
                subject_id=order.pk,
                source_system=source,
                before={"warehouse": before_code},
                after={"warehouse": warehouse.code},
                references={"reason": reason, "allocation": allocation_id},
            )
        )
    step(
        order,
        target=Milestone.WAREHOUSE_ACCEPTED,
        user=user,
        source=source,
        reason=reason,
        work=work,
        references={"allocation": allocation_id},
    )
    work.flush()  # the transition hook withdraws every open offer of the order
    sequence = Allocation.objects.filter(pk=allocation_id).values_list("sequence", flat=True)[0]
    event_id = ledger_append(
        action="allocation.claimed",
        actor=actor,
        order_id=order.pk,
        subject_type="allocation",
        subject_id=allocation_id,
        source_system=source,
        after={"warehouse": warehouse.code, "wave": wave.number, "sequence": sequence},
        references={"allocation": allocation_id},
    )
    Allocation.objects.filter(pk=allocation_id).update(
        wave=wave,
        ledger_event_id=event_id,
        lease_until=now + timedelta(seconds=conf.lease_seconds()),
    )
    return allocation_id, True


def allocation_claim(*, order_id: int, warehouse_code: str, user: Any | None = None) -> ClaimResult:
    """Claim ``order_id`` for the warehouse ``warehouse_code``: the first valid claim wins.

    Valid: the warehouse is active, ``user`` (when given) may act for it, the order is offered
    to it and in a claimable status. The unique constraint on the order's live allocation and
    one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` decide; a claim that meets a winner's
    transaction in flight waits for it. The winner's transaction moves the order to
    ``warehouse_accepted``, sets its warehouse (``order.warehouse_assigned``), joins the
    warehouse's open wave, appends ``allocation.claimed`` and withdraws the offers. After
    commit the certificate is signed from the committed row (``allocation_certificate``).
    Idempotent: the same warehouse again gets "held" and the same certificate.
    """
    warehouse = _warehouse_for(warehouse_code=warehouse_code, user=user)
    allocation_id, won = _claim_decide(order_id=order_id, warehouse=warehouse, user=user)
    certificate, warehouse_id = allocation_certificate(allocation_id=allocation_id)
    if won:
        status = "won"
    elif warehouse_id == warehouse.pk:
        status = "held"
    else:
        status = "taken"
    return ClaimResult(status=status, certificate=certificate, allocation_id=allocation_id)


# --- certificates --------------------------------------------------------------------------


def _payload_values(allocation: Allocation) -> dict[str, Any]:
    return {
        "order": allocation.order_id,
        "channel": allocation.order.channel,
        "external_id": allocation.order.external_id,
        "warehouse": allocation.warehouse.code,
        "wave": allocation.wave.number if allocation.wave is not None else None,
        "claimed_at": allocation.claimed_at.astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
        "sequence": allocation.sequence,
        "ledger_event": allocation.ledger_event_id,
    }


def allocation_certificate(*, allocation_id: int) -> tuple[Certificate, int]:
    """The allocation's certificate and warehouse id. Signed once, from the committed row,
    stored with a conditional UPDATE (the first signer's text stays) and recorded as
    ``allocation.certificate_issued``; afterwards read back as stored."""
    allocation = Allocation.objects.select_related("order", "warehouse", "wave").get(
        pk=allocation_id
    )
    if allocation.certificate_signature:
        stored = Certificate(
            payload=allocation.certificate_payload,
            signature=allocation.certificate_signature,
            key_id=allocation.key_id,
        )
        return stored, allocation.warehouse_id
    certificate = certificates.certificate_sign(_payload_values(allocation))
    with transaction.atomic():
        stored_now = Allocation.objects.filter(pk=allocation_id, certificate_signature="").update(
            certificate_payload=certificate.payload,
            certificate_signature=certificate.signature,
            key_id=certificate.key_id,
        )
        if stored_now:
            ledger_append(
                action="allocation.certificate_issued",
                actor=SOURCE,
                order_id=allocation.order_id,
                subject_type="allocation",
                subject_id=allocation_id,
                source_system=SOURCE,
                after={
                    "key_id": certificate.key_id,
                    "payload_sha256": hashlib.sha256(certificate.payload.encode()).hexdigest(),
                },
                references={"allocation": allocation_id},
            )
    if not stored_now:
        return allocation_certificate(allocation_id=allocation_id)
    return certificate, allocation.warehouse_id


# --- lease release -------------------------------------------------------------------------


def _release_locked(allocation: Allocation, order: Order, *, now: datetime) -> None:
    code = allocation.warehouse.code
    allocation.released_at = now
    allocation.release_reason = RELEASE_LEASE_EXPIRED
    allocation.save(update_fields=["released_at", "release_reason"])
    reason = f"lease of {code} expired"
    work = OrderWork()
    order.warehouse = None
    work.order_changed(order, ["warehouse"], user=None, reason=reason)
    work.ledger.append(
        LedgerEventIn(
            action="order.warehouse_assigned",
            actor=SOURCE,
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=SOURCE,
            before={"warehouse": code},
            after={"warehouse": ""},
            references={"reason": reason, "allocation": allocation.pk},
        )
    )
    # The one backward edge: only this sweep fires it (no person holds its permission).
    before = order.status
    order.release_from_warehouse()
    order.status_changed_at = now
    work.order_changed(order, ["status", "status_changed_at"], user=None, reason=reason)
    work.ledger.append(
        LedgerEventIn(
            action="order.transition",
            actor=SOURCE,
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=SOURCE,
            before={"status": before},
            after={"status": order.status},
            references={"reason": reason, "allocation": allocation.pk},
        )
    )
    work.transitioned(order, before=before, after=order.status, source=SOURCE)
    work.flush()  # the transition hook reopens the offers (not to the warehouse that lapsed)
    ledger_append(
        action="allocation.released",
        actor=SOURCE,
        order_id=order.pk,
        subject_type="allocation",
        subject_id=allocation.pk,
        source_system=SOURCE,
        before={"warehouse": code, "lease_until": allocation.lease_until.isoformat()
                if allocation.lease_until else ""},
        after={"warehouse": "", "reason": RELEASE_LEASE_EXPIRED},
        references={"allocation": allocation.pk},
    )  # fmt: skip


@transaction.atomic
def allocations_release_expired(*, now: datetime | None = None, limit: int = 200) -> int:
    """Release the locks whose lease ran out with no pick reported; returns how many.

    Takes due allocations ``FOR UPDATE SKIP LOCKED`` (overlapping sweeps share the work) and
    their orders ``SKIP LOCKED`` (an order busy elsewhere waits for the next sweep). An order
    that moved on (picked or later) keeps its lock for good; one cancelled or returned only
    loses it. A released order goes back to ``stock_locked`` and is offered again, except to
    the warehouse that went silent. Also closes waves older than ``ALLOCATION_WAVE_MINUTES``.
    """
    now = now or timezone.now()
    Wave.objects.filter(
        closed_at__isnull=True, opened_at__lte=now - timedelta(minutes=conf.wave_minutes())
    ).update(closed_at=now)
    due = list(
        Allocation.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("warehouse")
        .filter(released_at__isnull=True, picked_at__isnull=True, lease_until__lte=now)
        .order_by("lease_until", "id")[:limit]
    )
    released = 0
    for allocation in due:
        order = Order.objects.select_for_update(skip_locked=True).filter(pk=allocation.order_id)
        locked = order.first()
        if locked is None:
            continue
        if locked.status == Milestone.WAREHOUSE_ACCEPTED:
            _release_locked(allocation, locked, now=now)
            released += 1
        elif locked.status in (Milestone.CANCELLED, Milestone.RETURNED):
            Allocation.objects.filter(pk=allocation.pk).update(
                released_at=now, release_reason=f"order {locked.status}", lease_until=None
            )
        else:
            Allocation.objects.filter(pk=allocation.pk).update(picked_at=now, lease_until=None)
    if released:
        logger.info("allocation.released count=%s", released)
    return released


def allocations_end_for_orders(*, order_ids: Iterable[int], reason: str) -> int:
    """The orders left the flow (cancelled, returned): their live locks end, no re-offer."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    return Allocation.objects.filter(order_id__in=ids, released_at__isnull=True).update(
        released_at=timezone.now(), release_reason=reason[:200], lease_until=None
    )


# --- region rules a business user edits -----------------------------------------------------

WAREHOUSE_RULE_FIELDS = ("provinces", "is_active")


@transaction.atomic
def warehouse_rule_save(
    *, warehouse_id: int, values: dict[str, Any], user: Any | None, source: str = "admin"
) -> WarehouseRule:
    """Create or change the region rule of one warehouse: a history row with the user and,
    when anything changed, one ``allocation.rule_saved`` ledger event with before and after.
    Offers already open stay; the rule decides the next offers."""
    rule = WarehouseRule.objects.select_for_update().filter(warehouse_id=warehouse_id).first()
    created = rule is None
    if rule is None:
        rule = WarehouseRule(warehouse_id=warehouse_id)
    before = {} if created else {name: getattr(rule, name) for name in WAREHOUSE_RULE_FIELDS}
    for name in WAREHOUSE_RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    after = {name: getattr(rule, name) for name in WAREHOUSE_RULE_FIELDS}
    if not created and before == after:
        return rule
    rule._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    rule.save()
    ledger_append(
        action="allocation.rule_saved",
        actor=actor_label(user, source),
        subject_type="warehouse_rule",
        subject_id=rule.pk,
        source_system=SOURCE,
        before=before,
        after={"warehouse": rule.warehouse.code, **after},
    )
    return rule
