"""What a consistency rule sees and returns, and the registry it is registered in.

A rule is a pure function ``rule(view, params, now) -> Finding | Pending | None`` registered
under its kind with its default parameters::

    @rule("unmapped_status", defaults={})
    def unmapped_status(view: OrderView, params: Params, now: datetime) -> Verdict: ...

``Finding``: the gap is true now (the engine opens the anomaly, idempotently). ``Pending``:
no gap yet, but time passing may make one (the engine stores ``next_check_at`` for the sweep).
``None``: no gap (the engine resolves an open one, resolution ``auto``). Rules never touch the
database; the engine, not the rule, opens and resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderhub.choices import VOIDED_WAYBILL_STATES
from orderhub.registry import Registry


@dataclass(frozen=True, slots=True)
class FactView:
    id: int
    system: str
    raw_status: str
    milestone: str
    outcome: str
    occurred_at: datetime
    received_at: datetime

    @property
    def system_kind(self) -> str:
        """``wms`` of ``wms:wms-sh``."""
        return self.system.split(":", 1)[0]

    @property
    def system_code(self) -> str:
        """``wms-sh`` of ``wms:wms-sh`` (the account code)."""
        return self.system.split(":", 1)[-1]

    def brief(self) -> dict[str, Any]:
        """The fact as evidence (JSON)."""
        return {
            "fact_id": self.id,
            "system": self.system,
            "raw_status": self.raw_status,
            "milestone": self.milestone,
            "outcome": self.outcome,
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class TrackingView:
    id: int
    system: str
    tracking_number: str
    stage: str
    raw_state: str
    occurred_at: datetime
    raw_substate: str = ""

    @property
    def voids_waybill(self) -> bool:
        """The courier says the waybill is cancelled (``VOIDED_WAYBILL_STATES``)."""
        return f"{self.system.split(':', 1)[0]}:{self.raw_substate}" in VOIDED_WAYBILL_STATES

    def brief(self) -> dict[str, Any]:
        return {
            "tracking_event_id": self.id,
            "system": self.system,
            "tracking_number": self.tracking_number,
            "stage": self.stage,
            "raw_state": self.raw_state,
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ShortageView:
    id: int
    sku: str
    warehouse_code: str
    missing: int
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class WriteBackView:
    """A write-back another system acknowledged (``channels_app`` outbox): ``system`` is the
    receiving account's ``<kind>:<code>``."""

    id: int
    system: str
    action: str
    milestone: str
    acknowledged_at: datetime

    @property
    def system_code(self) -> str:
        return self.system.split(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class LineView:
    line_no: int
    sku: str
    category: str
    hs_code: str


@dataclass(frozen=True, slots=True)
class OrderView:
    """One order as the rules see it: its fields, facts and tracking events (oldest first),
    open stock shortages, lines and acknowledged write-backs."""

    id: int
    channel: str
    external_id: str
    status: str
    order_type: str
    warehouse_code: str
    carrier: str
    tracking_number: str
    ship_by: datetime | None
    facts: tuple[FactView, ...] = ()
    tracking: tuple[TrackingView, ...] = ()
    shortages: tuple[ShortageView, ...] = ()
    lines: tuple[LineView, ...] = ()
    writebacks: tuple[WriteBackView, ...] = ()

    def is_channel_fact(self, fact: FactView) -> bool:
        """Said by the order's own channel account."""
        return fact.system_code == self.channel

    def latest_by_system(self) -> dict[str, FactView]:
        latest: dict[str, FactView] = {}
        for fact in self.facts:
            latest[fact.system] = fact
        return latest

    def systems_snapshot(self) -> dict[str, dict[str, str]]:
        """Each system's latest statement: the "status snapshot" of the evidence."""
        return {
            system: {"raw_status": fact.raw_status, "milestone": fact.milestone}
            for system, fact in sorted(self.latest_by_system().items())
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """The gap is true. ``evidence_at`` is when it became true by the sources' clocks;
    ``deadline`` a platform deadline shown to people; ``next_check_at`` when to look again
    while it stays open (for rules about time passing)."""

    evidence: dict[str, Any]
    evidence_at: datetime
    deadline: datetime | None = None
    next_check_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """No gap yet; evaluate again at ``next_check_at``."""

    next_check_at: datetime


Verdict = Finding | Pending | None
Params = Mapping[str, Any]
RuleFunction = Callable[[OrderView, Params, datetime], Verdict]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    function: RuleFunction
    defaults: Mapping[str, Any] = field(default_factory=dict)


rules: Registry[Rule] = Registry("consistency rules")


def rule(kind: str, *, defaults: Mapping[str, Any]) -> Callable[[RuleFunction], RuleFunction]:
    """Register ``function`` as the rule of ``kind`` (a duplicate kind fails at import)."""

    def decorator(function: RuleFunction) -> RuleFunction:
        rules.add(kind, Rule(kind=kind, function=function, defaults=dict(defaults)))
        return function

    return decorator
