"""Rules about the parcel leaving and travelling: ghost shipments, unmirrored milestones,
ship-by deadlines, stalled tracking, clocks that disagree. All are about time passing: they
answer ``Pending`` with the moment to look again."""

from __future__ import annotations

from datetime import datetime, timedelta

from health.rules.base import (
    FactView,
    Finding,
    OrderView,
    Params,
    Pending,
    Verdict,
    WriteBackView,
    rule,
)
from orderhub.choices import CARRIER_SCANNED, FORWARD_RANK, TERMINAL, Milestone

_SCANNED_MILESTONES = frozenset({Milestone.COLLECTED, Milestone.DELIVERED})
COURIER_SYSTEMS = ["kuaidi100", "track17", "aftership"]


def _carrier_scan(view: OrderView, couriers: set[str]) -> datetime | None:
    """When the carrier's own network first scanned the parcel, if it did."""
    times = [
        fact.occurred_at
        for fact in view.facts
        if fact.system_kind in couriers and fact.milestone in _SCANNED_MILESTONES
    ] + [
        event.occurred_at
        for event in view.tracking
        if event.stage in CARRIER_SCANNED and not event.voids_waybill
    ]
    return min(times) if times else None


def _ship_fact(view: OrderView, couriers: set[str]) -> FactView | None:
    """The first non-courier statement that the parcel was handed over."""
    return next(
        (
            fact
            for fact in view.facts
            if fact.milestone == Milestone.HANDED_OVER and fact.system_kind not in couriers
        ),
        None,
    )


@rule(
    "ghost_shipment",
    defaults={"hours": 24, "lead_hours": 2, "courier_systems": COURIER_SYSTEMS},
)
def ghost_shipment(view: OrderView, params: Params, now: datetime) -> Verdict:
    """Shipped (handed over) per the channel, ERP or WMS, and no carrier scan ``lead_hours``
    before the platform's fake-shipping deadline (``hours`` after the ship fact, per
    channel): it opens while there is time to act (the courier is queried at once, and the
    alert on deadlines within 2 hours counts it); the deadline is the anomaly's."""
    couriers = set(params["courier_systems"])
    if view.status in (Milestone.CANCELLED, Milestone.RETURNED):
        return None
    shipped = _ship_fact(view, couriers)
    if shipped is None or _carrier_scan(view, couriers) is not None:
        return None
    deadline = shipped.occurred_at + timedelta(hours=float(params["hours"]))
    opens_at = max(shipped.occurred_at, deadline - timedelta(hours=float(params["lead_hours"])))
    if now < opens_at:
        return Pending(next_check_at=opens_at)
    return Finding(
        evidence={
            "ship_fact": shipped.brief(),
            "carrier": view.carrier,
            "tracking_number": view.tracking_number,
            "carrier_scans": [],
            "systems": view.systems_snapshot(),
        },
        evidence_at=opens_at,
        deadline=deadline,
    )


@rule(
    "sync_lag",
    defaults={
        "seconds": 90,
        "milestones": [Milestone.HANDED_OVER],
        "systems": ["wms", "erp", "tms"],
    },
)
def sync_lag(view: OrderView, params: Params, now: datetime) -> Verdict:
    """A milestone a back-office system reported is not mirrored by the order's channel
    within ``seconds`` of OrderHub receiving it. Mirrored: the channel's own facts reach it
    or beyond, or OrderHub's write-back to the channel that says so was acknowledged (a ship
    confirmation mirrors ``handed_over``) — the acknowledgement time is when it was
    mirrored."""
    if view.status in (Milestone.CANCELLED, Milestone.RETURNED):
        return None
    lag = timedelta(seconds=float(params["seconds"]))
    systems = set(params["systems"])
    channel_rank = max(
        (FORWARD_RANK.get(f.milestone, -1) for f in view.facts if view.is_channel_fact(f)),
        default=-1,
    )
    due: datetime | None = None
    for milestone in params["milestones"]:
        if channel_rank >= FORWARD_RANK.get(milestone, 0):
            continue
        known = next(
            (f for f in view.facts if f.milestone == milestone and f.system_kind in systems),
            None,
        )
        if known is None:
            continue
        mirror_by = known.received_at + lag
        if _acknowledged_to_channel(view, milestone) is not None:
            continue
        if now >= mirror_by:
            return Finding(
                evidence={
                    "milestone": milestone,
                    "known_by": known.brief(),
                    "missing_in": f"channel:{view.channel}",
                    "seconds": float(params["seconds"]),
                    "systems": view.systems_snapshot(),
                },
                evidence_at=mirror_by,
            )
        due = mirror_by if due is None else min(due, mirror_by)
    return Pending(next_check_at=due) if due is not None else None


# Which milestone an acknowledged write-back of each action tells the receiving platform.
WRITEBACK_MIRRORS: dict[str, str] = {"ship_confirm": Milestone.HANDED_OVER}


def _acknowledged_to_channel(view: OrderView, milestone: str) -> WriteBackView | None:
    """The first acknowledged write-back to the order's channel that mirrors ``milestone``."""
    rank = FORWARD_RANK.get(milestone, 0)
    return next(
        (
            entry
            for entry in view.writebacks
            if entry.system_code == view.channel
            and FORWARD_RANK.get(WRITEBACK_MIRRORS.get(entry.action, ""), -1) >= rank
        ),
        None,
    )


@rule("sla_at_risk", defaults={"hours": 4})
def sla_at_risk(view: OrderView, params: Params, now: datetime) -> Verdict:
    """The ship-by deadline is within ``hours`` and the order is not handed over yet."""
    if view.ship_by is None or view.status in TERMINAL:
        return None
    if FORWARD_RANK.get(view.status, 0) >= FORWARD_RANK[Milestone.HANDED_OVER]:
        return None
    at_risk = view.ship_by - timedelta(hours=float(params["hours"]))
    if now < at_risk:
        return Pending(next_check_at=at_risk)
    return Finding(
        evidence={
            "ship_by": view.ship_by.isoformat(),
            "order_status": view.status,
            "hours": float(params["hours"]),
            "systems": view.systems_snapshot(),
        },
        evidence_at=at_risk,
        deadline=view.ship_by,
    )


@rule("tracking_stalled", defaults={"hours": 48, "recheck_minutes": 30})
def tracking_stalled(view: OrderView, params: Params, now: datetime) -> Verdict:
    """Collected, not delivered, and no tracking event (nor courier fact) for ``hours``."""
    if view.status != Milestone.COLLECTED:
        return None
    times = [event.occurred_at for event in view.tracking] + [
        fact.occurred_at for fact in view.facts if fact.milestone == Milestone.COLLECTED
    ]
    if not times:
        return None
    last = max(times)
    stalled_at = last + timedelta(hours=float(params["hours"]))
    if now < stalled_at:
        return Pending(next_check_at=stalled_at)
    # Tracking events that bring no new fact do not wake the engine: look again regularly.
    return Finding(
        evidence={
            "last_event_at": last.isoformat(),
            "tracking_number": view.tracking_number,
            "hours": float(params["hours"]),
        },
        evidence_at=stalled_at,
        next_check_at=now + timedelta(minutes=float(params["recheck_minutes"])),
    )


@rule(
    "clock_mismatch",
    defaults={
        "max_seconds": 180,
        "systems": ["erp", "wms", "kingdee_k3"],
        "courier_systems": COURIER_SYSTEMS,
    },
)
def clock_mismatch(view: OrderView, params: Params, now: datetime) -> Verdict:
    """The ERP's or WMS's ship (handover) time and the carrier's first scan differ by more
    than ``max_seconds``: one of the clocks, or one of the stories, is wrong. The evidence is
    the wrong system's first ship time; the anomaly resolves when that system sends a
    corrected one (a ship time within ``max_seconds`` of the scan)."""
    couriers = set(params["courier_systems"])
    scan = _carrier_scan(view, couriers)
    if scan is None:
        return None
    systems = set(params["systems"])
    limit = float(params["max_seconds"])
    # A system is wrong while none of its ship times is within the limit of the scan: a
    # corrected ship time (sent again with the right clock) puts it right.
    ship_times: dict[str, list[FactView]] = {}
    for fact in view.facts:
        if fact.milestone == Milestone.HANDED_OVER and fact.system_kind in systems:
            ship_times.setdefault(fact.system, []).append(fact)
    wrong = sorted(
        (
            facts[0]
            for facts in ship_times.values()
            if all(abs((scan - fact.occurred_at).total_seconds()) > limit for fact in facts)
        ),
        key=lambda f: (f.occurred_at, f.id),
    )
    if not wrong:
        return None
    shipped = wrong[0]
    difference = abs((scan - shipped.occurred_at).total_seconds())
    return Finding(
        evidence={
            "ship_fact": shipped.brief(),
            "first_scan_at": scan.isoformat(),
            "difference_seconds": difference,
            "max_seconds": float(params["max_seconds"]),
        },
        evidence_at=max(scan, shipped.occurred_at),
    )
