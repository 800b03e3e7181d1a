"""Courier tracking events: stored once, attached to the order that owns the waybill, and
turned into that order's status facts.

A courier feed reports a waybill, not an order. Its events are stored whether or not an order
owns the waybill yet; once one does (now, or later when the order's tracking number becomes
known), the events are attached to it and each feed's first event of a milestone becomes a
fact: ``collected`` at the carrier's first scan, ``delivered`` at the signature. Events arrive
duplicated, shuffled and from several providers: storing is idempotent (one row per event) and
the facts are derived from every stored event, so any arrival order converges to the same
timeline and the same order state (facts never move an order backwards).

Callers hold the transaction; orders handed in were locked in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from orderhub.domain import NormalizedTracking, StatusFactIn, TrackingEventIn
from orderhub.models import Order, TrackingEvent
from orderhub.services.facts import apply_fact_locked
from orderhub.services.work import OrderWork


@dataclass(frozen=True, slots=True)
class _StoredEvent:
    system: str
    tracking_number: str
    occurred_at: datetime
    stage: str
    raw_state: str
    raw_substate: str
    description: str
    milestone: str
    source_message_id: int | None
    id: int


def tracking_record_locked(
    trackings: Sequence[NormalizedTracking], *, known_orders: Iterable[Order], work: OrderWork
) -> dict[str, int]:
    """Store the events of ``trackings`` and apply them to the orders owning their waybills.

    ``known_orders`` are orders this transaction already holds (and may have changed in
    memory, such as a tracking number set by the same batch): they are matched in memory; the
    other owners are locked in id order. Returns the owning order id of each waybill that has
    one. Written by ``work`` (facts, transitions, ledger) except the events themselves, which
    are inserted here with one statement.
    """
    events = [event for tracking in trackings for event in tracking.events]
    numbers = {tracking.tracking_number for tracking in trackings}
    if not numbers:
        return {}
    _events_insert(events)
    owners: dict[str, Order] = {}
    held = {order.pk: order for order in known_orders}
    for order in held.values():
        if order.tracking_number in numbers:
            owners.setdefault(order.tracking_number, order)
    missing = numbers - set(owners)
    if missing:
        query = (
            Order.objects.select_for_update()
            .filter(tracking_number__in=missing)
            .exclude(pk__in=list(held))
            .order_by("pk")
        )
        for order in query:
            # Two orders on one waybill: the newest owns its events (the older one keeps its
            # own facts); a duplicate shipment is the consistency rules' business.
            owners[order.tracking_number] = order
    _owners_apply(owners, work=work)
    return {number: order.pk for number, order in owners.items()}


def tracking_attach_locked(orders: Sequence[Order], *, work: OrderWork) -> None:
    """Orders whose tracking number became known in this transaction: attach the waybill's
    stored events (received before any order owned it) and apply their facts."""
    owners = {order.tracking_number: order for order in orders if order.tracking_number}
    if owners:
        _owners_apply(owners, work=work)


def _events_insert(events: Sequence[TrackingEventIn]) -> None:
    if not events:
        return
    now = timezone.now()
    TrackingEvent.objects.bulk_create(
        [
            TrackingEvent(
                system=event.system,
                carrier=event.carrier[:64],
                tracking_number=event.tracking_number,
                occurred_at=event.occurred_at,
                received_at=now,
                stage=event.stage,
                raw_state=event.raw_state[:64],
                raw_substate=event.raw_substate[:64],
                milestone=event.milestone or "",
                description=event.description[:500],
                location=event.location[:200],
                dedupe_key=event.dedupe_key,
                source_message_id=event.source_message_id,
            )
            for event in events
        ],
        ignore_conflicts=True,
    )


def _owners_apply(owners: dict[str, Order], *, work: OrderWork) -> None:
    """Attach every stored event of these waybills to its owner (one UPDATE) and apply the
    facts the events stand for (one SELECT, then ``work``)."""
    TrackingEvent.objects.filter(tracking_number__in=list(owners)).exclude(
        order_id__in=[order.pk for order in owners.values()]
    ).update(
        order_id=Case(
            *(
                When(tracking_number=number, then=Value(order.pk))
                for number, order in owners.items()
            ),
            output_field=IntegerField(),
        )
    )
    stored = [
        _StoredEvent(**row)
        for row in TrackingEvent.objects.filter(tracking_number__in=list(owners))
        .exclude(milestone="")
        .order_by("occurred_at", "id")
        .values(
            "system", "tracking_number", "occurred_at", "stage", "raw_state", "raw_substate",
            "description", "milestone", "source_message_id", "id",
        )
    ]  # fmt: skip
    facts: dict[int, list[StatusFactIn]] = {}
    seen: set[tuple[str, str, str]] = set()
    for event in stored:  # oldest first: the first event of a milestone per feed counts
        key = (event.tracking_number, event.system, event.milestone)
        if key in seen:
            continue
        seen.add(key)
        order = owners[event.tracking_number]
        note = f"{event.raw_state}/{event.raw_substate}: {event.description}".strip(" /:")
        facts.setdefault(order.pk, []).append(
            StatusFactIn(
                system=event.system,
                raw_status=event.stage,
                milestone=event.milestone,
                occurred_at=event.occurred_at,
                source_message_id=event.source_message_id,
                note=note[:255],
            )
        )
    work.fact_keys_load(facts, (fact.dedupe_key for items in facts.values() for fact in items))
    work.fact_ids_reserve(sum(len(items) for items in facts.values()))
    by_pk = {order.pk: order for order in owners.values()}
    for order_id in sorted(facts):
        for fact in sorted(facts[order_id], key=lambda f: f.occurred_at):
            apply_fact_locked(by_pk[order_id], fact, user=None, work=work)
