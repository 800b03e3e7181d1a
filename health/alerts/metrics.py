"""The metrics alert rules compare: a typed registry of functions ``(now, scope) -> values``.

A metric returns one ``MetricValue`` per subject it has something to say about (a subject not
returned has nothing to report: it is not breaching). ``scope`` narrows it to warehouse or
channel codes and carries the rule's window. Register with the decorator, or plug a function
into a name declared earlier::

    @metric("orders_without_tracking")
    def orders_without_tracking(now: datetime, scope: Scope) -> list[MetricValue]: ...

    metrics.register("health_score_daily", health_score_daily)   # the name is declared here

A declared name with no function is "unavailable": a rule on it never fires and its admin page
says so. Registering a function twice under one name, or asking for an unknown name, raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orderhub.registry import RegistryError


@dataclass(frozen=True, slots=True)
class Scope:
    """What a rule asks of a metric: only these warehouses/channels (empty = all), and its
    window (what "within" or "for at least" means for the metric)."""

    warehouses: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    window: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class MetricValue:
    """``subject_key`` is ``warehouse:WH-A``, ``channel:shop-1`` or ``all``."""

    subject_key: str
    value: Decimal
    evidence: dict[str, Any] = field(default_factory=dict)


MetricFunction = Callable[[datetime, Scope], list[MetricValue]]


class MetricRegistry:
    def __init__(self) -> None:
        self._functions: dict[str, MetricFunction | None] = {}

    def declare(self, name: str) -> None:
        """Make ``name`` known before its function exists (a rule may name it)."""
        if name in self._functions:
            raise RegistryError(f"alert metrics: {name!r} is already declared")
        self._functions[name] = None

    def register(self, name: str, function: MetricFunction) -> MetricFunction:
        if self._functions.get(name) is not None:
            raise RegistryError(f"alert metrics: {name!r} already has a function")
        self._functions[name] = function
        return function

    def __call__(self, name: str) -> Callable[[MetricFunction], MetricFunction]:
        def decorator(function: MetricFunction) -> MetricFunction:
            return self.register(name, function)

        return decorator

    def known(self, name: str) -> bool:
        return name in self._functions

    def available(self, name: str) -> bool:
        return self._functions.get(name) is not None

    def get(self, name: str) -> MetricFunction | None:
        """The function of ``name``, None while only declared; unknown names raise."""
        if name not in self._functions:
            known = ", ".join(sorted(self._functions)) or "none"
            raise RegistryError(f"alert metrics: unknown metric {name!r} (known: {known})")
        return self._functions[name]

    def names(self) -> list[str]:
        return sorted(self._functions)


metrics = MetricRegistry()
metric = metrics
register = metrics.register
HEALTH_SCORE_DAILY = "health_score_daily"


def warehouse_subject(code: str | None) -> str:
    return f"warehouse:{code}" if code else "warehouse:-"
