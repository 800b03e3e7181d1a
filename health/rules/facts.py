"""Rules over what the systems said: conflicting, unmapped and doubled statements."""

from __future__ import annotations

from datetime import datetime, timedelta

from health.rules.base import Finding, OrderView, Params, Verdict, rule
from orderhub.choices import FORWARD_RANK, FactOutcome, Milestone

# What a warehouse reports while it works on the parcel (an intercept is needed).
_WAREHOUSE_AT_WORK = frozenset({Milestone.WAREHOUSE_ACCEPTED, Milestone.PICKED_PACKED})


@rule("status_conflict", defaults={"warehouse_systems": ["wms"]})
def status_conflict(view: OrderView, params: Params, now: datetime) -> Verdict:
    """A system's latest fact conflicts with the order's status, or the channel cancelled
    while a warehouse's latest report says it is picking/packing. Resolves when the system
    that conflicts says something else (e.g. the WMS confirms the cancel)."""
    latest = view.latest_by_system()
    conflicting = [fact for fact in latest.values() if fact.outcome == FactOutcome.CONFLICT]
    warehouse_kinds = set(params["warehouse_systems"])
    cancel = next(
        (
            fact
            for fact in view.facts
            if view.is_channel_fact(fact) and fact.milestone == Milestone.CANCELLED
        ),
        None,
    )
    if cancel is not None:
        at_work = [
            fact
            for fact in latest.values()
            if fact.system_kind in warehouse_kinds and fact.milestone in _WAREHOUSE_AT_WORK
        ]
        if at_work:
            conflicting += [*at_work, cancel]
    if not conflicting:
        return None
    conflicting = sorted(
        {fact.id: fact for fact in conflicting}.values(),
        key=lambda fact: (fact.occurred_at, fact.id),
    )
    return Finding(
        evidence={
            "order_status": view.status,
            "facts": [fact.brief() for fact in conflicting],
            "systems": view.systems_snapshot(),
        },
        evidence_at=max(fact.occurred_at for fact in conflicting),
    )


@rule("unmapped_status", defaults={})
def unmapped_status(view: OrderView, params: Params, now: datetime) -> Verdict:
    """A stored fact whose raw status has no mapping; resolves once it is mapped and
    applied again."""
    unmapped = [fact for fact in view.facts if fact.outcome == FactOutcome.UNMAPPED]
    if not unmapped:
        return None
    return Finding(
        evidence={
            "facts": [fact.brief() for fact in unmapped],
            "systems": view.systems_snapshot(),
        },
        evidence_at=min(fact.occurred_at for fact in unmapped),
    )


@rule("duplicate_shipment", defaults={"warehouse_systems": ["wms"], "recheck_minutes": 10})
def duplicate_shipment(view: OrderView, params: Params, now: datetime) -> Verdict:
    """Two warehouses' systems working on one order (each past accepting it), or tracking
    events of two different waybills. Resolves when all but one warehouse report cancelled,
    or all but one waybill are voided by their courier (``VOIDED_WAYBILL_STATES``). A void
    is a tracking event that brings no fact (it is no milestone of the order), so an open
    finding is checked again every ``recheck_minutes``."""
    kinds = set(params["warehouse_systems"])
    working: dict[str, list[object]] = {}
    first: dict[str, datetime] = {}
    latest = view.latest_by_system()
    for fact in view.facts:
        rank = FORWARD_RANK.get(fact.milestone)
        if fact.system_kind not in kinds or rank is None:
            continue
        if rank < FORWARD_RANK[Milestone.WAREHOUSE_ACCEPTED]:
            continue
        if latest[fact.system].milestone in (Milestone.CANCELLED, Milestone.RETURNED):
            continue
        working.setdefault(fact.system, []).append(fact.brief())
        first.setdefault(fact.system, fact.occurred_at)
    waybills: dict[str, datetime] = {}
    voided = {event.tracking_number for event in view.tracking if event.voids_waybill}
    for event in view.tracking:
        if event.tracking_number not in voided:
            waybills.setdefault(event.tracking_number, event.occurred_at)
    if len(working) < 2 and len(waybills) < 2:
        return None
    times = sorted(first.values())[1:2] if len(working) >= 2 else sorted(waybills.values())[1:2]
    return Finding(
        evidence={
            "warehouse_systems": sorted(working),
            "tracking_numbers": sorted(waybills),
            "facts": [brief for system in sorted(working) for brief in working[system]],
            "systems": view.systems_snapshot(),
        },
        evidence_at=times[0],
        next_check_at=now + timedelta(minutes=float(params["recheck_minutes"])),
    )
