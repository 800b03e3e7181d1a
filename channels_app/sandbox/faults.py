"""Faults the sandbox injects into an order's story, each one a gap a consistency rule finds.

A fault rewrites what the platforms, the WMS, the ERP and the courier will say about one
generated order (its ``Story``) before anything is encoded: the deliveries still go through
the real interfaces (signed webhooks, courier pushes, the facts and stock APIs), so OrderHub
sees exactly what a real fault looks like on the wire. Nothing is written to the database.

Each fault and the rule it exercises:

- ``missing_scan`` (ghost_shipment): handed over 25-30 h ago, the carrier never scans it.
- ``late_scan`` (tracking_stalled): scanned, then no scan for 49-60 h.
- ``clock_drift`` (clock_mismatch): the ERP's clock runs 6-15 min slow against the carrier's.
- ``unmirrored_shipment`` (sync_lag): the WMS ships, the channel is never told.
- ``cancel_during_picking`` (status_conflict): the buyer cancels while the WMS is picking.
- ``second_waybill`` (duplicate_shipment): the WMS prints a second label and ships again.
- ``unknown_status`` (unmapped_status): the WMS reports a word no mapping knows (QC_HOLD).
- ``bad_hs_code`` (customs_hs_code): a cross-border order with a line whose HS code is wrong.
- ``stock_shortage`` (stock_shortage): the channel sells a SKU every warehouse ran out of.
- ``late_wms`` (sla_at_risk): paid 45 h ago, the WMS learned of it late, ship-by is near.

``late_wms`` needs a ship-by deadline, which only the pull platforms carry: it is played by
the Pinduoduo sandbox API (``SandboxPinduoduo.order_add(ship_within=...)``), not by the push
engine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from channels_app.sandbox.generator import (
    FINAL,
    FULFILLED_KINDS,
    CourierEvent,
    Line,
    SandboxOrder,
    SystemFact,
    courier_events,
    system_facts,
)
from orderhub.choices import OrderType

# The rule each fault is there to exercise.
FAULT_RULES: dict[str, str] = {
    "missing_scan": "ghost_shipment",
    "late_scan": "tracking_stalled",
    "clock_drift": "clock_mismatch",
    "unmirrored_shipment": "sync_lag",
    "cancel_during_picking": "status_conflict",
    "second_waybill": "duplicate_shipment",
    "unknown_status": "unmapped_status",
    "bad_hs_code": "customs_hs_code",
    "stock_shortage": "stock_shortage",
    "late_wms": "sla_at_risk",
}
# The faults the push engine plays (late_wms is the Pinduoduo sandbox API's).
ENGINE_FAULTS = tuple(name for name in FAULT_RULES if name != "late_wms")
# The rates ``manage.py sandbox`` injects unless told otherwise: low, so that on a demo
# board each anomaly is one of these (a few per hundred orders), and each is explainable.
DEFAULT_RATES: dict[str, float] = {name: 0.01 for name in ENGINE_FAULTS}

UNKNOWN_WMS_STATUS = "QC_HOLD"  # 质检暂扣: a word the shipped WMS mapping does not know
# A SKU the channel still sells and every sandbox warehouse reports at zero (oversold).
SOLD_OUT_SKU = "TEA-DHP-050"
SOLD_OUT_TITLE = "武夷大红袍 限量 50g"
# A SKU whose catalogue entry carries a wrong HS code (the demo's catalogue lists it so).
BAD_HS_SKU = "TEA-GIFT-01"
BAD_HS_TITLE = "龙井礼盒"
BAD_HS_CODE = "090299"  # chapter 09 exists, subheading 0902.99 does not
# Kinds whose "shipped" step means handed over (Shopify's "fulfilled" is read as collected).
HANDOVER_KINDS = ("woocommerce", "douyin", "youzan", "webform")


@dataclass(frozen=True, slots=True)
class Story:
    """What every system will say about one order. ``late_*`` are sent after the order's
    other deliveries (a second label and its scans come later in real life too)."""

    order: SandboxOrder
    facts: tuple[SystemFact, ...]
    events: tuple[CourierEvent, ...]
    fault: str = ""
    # The order as the generator told it, before the fault (what the channel withheld).
    original: SandboxOrder | None = None
    late_facts: tuple[SystemFact, ...] = ()
    late_waybill: str = ""
    late_events: tuple[CourierEvent, ...] = ()


def story_of(order: SandboxOrder, rng: random.Random, *, couriers: bool) -> Story:
    """The healthy story: the generator's system facts and (when couriers play) scans."""
    return Story(order, system_facts(order), courier_events(order, rng) if couriers else ())


def parse_rates(values: list[str]) -> dict[str, float]:
    """``["missing_scan=0.05", ...]`` → rates; an unknown fault or a rate outside 0..1 raises
    ``ValueError`` naming it."""
    rates: dict[str, float] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            raise ValueError(f"{value!r}: expected <fault>=<rate>, e.g. missing_scan=0.05")
        if name not in ENGINE_FAULTS:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(ENGINE_FAULTS)})")
        try:
            rate = float(text)
        except ValueError:
            raise ValueError(f"{value!r}: the rate must be a number") from None
        if not 0 <= rate <= 1:
            raise ValueError(f"{value!r}: the rate must be between 0 and 1")
        rates[name] = rate
    return rates


def fault_pick(rates: Mapping[str, float], rng: random.Random) -> str:
    """At most one fault per order: each with its rate (in the registry's order)."""
    draw = rng.random()
    for name in ENGINE_FAULTS:
        rate = rates.get(name, 0.0)
        if draw < rate:
            return name
        draw -= rate
    return ""


def fault_apply(name: str, story: Story, rng: random.Random, now: datetime) -> Story | None:
    """The story with fault ``name`` injected, or ``None`` when it cannot apply to this order
    (e.g. a missing scan on an order that never ships)."""
    result = FAULTS[name](story, rng, now)
    return replace(result, fault=name, original=story.order) if result is not None else None


# --- the faults ------------------------------------------------------------------------------


def _seconds(delta: timedelta) -> timedelta:
    """Whole seconds (the wire formats carry no fractions)."""
    return timedelta(seconds=int(delta.total_seconds()))


def _shift(order: SandboxOrder, delta: timedelta) -> SandboxOrder:
    """The same story ``delta`` earlier."""
    return replace(
        order,
        placed_at=order.placed_at - delta,
        step_times=tuple(at - delta for at in order.step_times),
    )


def _until(order: SandboxOrder, step: str) -> SandboxOrder:
    """The story cut after ``step`` (the channel says nothing later)."""
    end = order.steps.index(step) + 1
    return replace(order, steps=order.steps[:end], step_times=order.step_times[:end])


def _ships(story: Story, *, kinds: tuple[str, ...] = FULFILLED_KINDS) -> bool:
    return story.order.kind in kinds and "shipped" in story.order.steps


def _missing_scan(story: Story, rng: random.Random, now: datetime) -> Story | None:
    if not _ships(story, kinds=HANDOVER_KINDS):
        return None
    order = _until(story.order, "shipped")
    shipped_at = order.step_times[order.steps.index("shipped")]
    order = _shift(order, _seconds(shipped_at - now + timedelta(hours=rng.uniform(25, 30))))
    return replace(story, order=order, facts=system_facts(order), events=())


def _late_scan(story: Story, rng: random.Random, now: datetime) -> Story | None:
    if not _ships(story, kinds=HANDOVER_KINDS) or not story.events:
        return None
    order = _until(story.order, "shipped")
    events = courier_events(order, rng)[:2]  # the label, the first scan, then nothing
    delta = _seconds(events[-1].at - now + timedelta(hours=rng.uniform(49, 60)))
    order = _shift(order, delta)
    events = tuple(replace(event, at=event.at - delta) for event in events)
    return replace(story, order=order, facts=system_facts(order), events=events)


def _clock_drift(story: Story, rng: random.Random, now: datetime) -> Story | None:
    if not _ships(story) or not story.events:
        return None
    drift = timedelta(minutes=rng.randint(6, 15))
    facts = tuple(
        replace(fact, at=fact.at - drift) if fact.system == "erp" else fact for fact in story.facts
    )
    return replace(story, facts=facts)


def _unmirrored_shipment(story: Story, rng: random.Random, now: datetime) -> Story | None:
    if not _ships(story) or "paid" not in story.order.steps:
        return None
    return replace(story, order=_until(story.order, "paid"))


def _cancel_during_picking(story: Story, rng: random.Random, now: datetime) -> Story | None:
    order = story.order
    if order.kind not in FULFILLED_KINDS or "cancelled" not in FINAL[order.kind]:
        return None
    paid_at = order.placed_at + timedelta(minutes=rng.randint(1, 20))
    cancel_at = paid_at + timedelta(minutes=rng.randint(3, 10))
    paid = replace(order, steps=("placed", "paid"), step_times=(order.placed_at, paid_at))
    cancelled = replace(
        order,
        steps=("placed", "paid", "cancelled"),
        step_times=(order.placed_at, paid_at, cancel_at),
    )
    return replace(story, order=cancelled, facts=system_facts(paid), events=())


def _second_waybill(story: Story, rng: random.Random, now: datetime) -> Story | None:
    if not _ships(story) or not story.events:
        return None
    order = story.order
    shipped_at = order.step_times[order.steps.index("shipped")]
    again = shipped_at + timedelta(minutes=rng.randint(10, 40))
    number = f"SF{rng.randint(10**11, 10**12 - 1)}"
    facts = (
        SystemFact("wms", "LABELED", again, True, number),
        SystemFact("wms", "SHIPPED", again + timedelta(seconds=30), True, number),
    )
    events = (
        CourierEvent("info_received", again + timedelta(seconds=35), order.city),
        CourierEvent("collected", again + timedelta(seconds=90), order.city),
    )
    return replace(story, late_facts=facts, late_waybill=number, late_events=events)


def _unknown_status(story: Story, rng: random.Random, now: datetime) -> Story | None:
    order = story.order
    if order.kind not in FULFILLED_KINDS or "paid" not in order.steps:
        return None
    paid_at = order.step_times[order.steps.index("paid")]
    hold = SystemFact("wms", UNKNOWN_WMS_STATUS, paid_at + timedelta(seconds=60), False)
    return replace(story, facts=(*story.facts, hold))


def _bad_hs_code(story: Story, rng: random.Random, now: datetime) -> Story | None:
    # Only OrderHub's own web form carries the order type (cross-border) on the wire.
    if story.order.kind != "webform":
        return None
    gift = Line(BAD_HS_SKU, BAD_HS_TITLE, 1, Decimal("168.00"))
    order = replace(
        story.order,
        country="US",
        province="California",
        city="San Francisco",
        district="",
        street=f"{rng.randint(1, 300)} Market Street",
        postal_code="94103",
        order_type=OrderType.CROSS_BORDER,
        lines=(*story.order.lines, gift),
    )
    return replace(story, order=order)


def _stock_shortage(story: Story, rng: random.Random, now: datetime) -> Story | None:
    order = story.order
    if order.kind not in FULFILLED_KINDS or "paid" not in order.steps:
        return None
    line = Line(SOLD_OUT_SKU, SOLD_OUT_TITLE, rng.randint(1, 3), Decimal("98.00"))
    # Nothing to pick: the WMS and the courier never hear of it; the channel stops at paid.
    return replace(story, order=replace(_until(order, "paid"), lines=(line,)), facts=(), events=())


FAULTS: dict[str, Callable[[Story, random.Random, datetime], Story | None]] = {
    "missing_scan": _missing_scan,
    "late_scan": _late_scan,
    "clock_drift": _clock_drift,
    "unmirrored_shipment": _unmirrored_shipment,
    "cancel_during_picking": _cancel_during_picking,
    "second_waybill": _second_waybill,
    "unknown_status": _unknown_status,
    "bad_hs_code": _bad_hs_code,
    "stock_shortage": _stock_shortage,
}
if tuple(FAULTS) != ENGINE_FAULTS:  # one table of names, checked at import
    raise RuntimeError("FAULTS and FAULT_RULES name different faults")
