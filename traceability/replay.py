"""Replay the ledger against the orders: does every order hold what its events say? Reads only.

An ``order.*`` event that changes an order's status, warehouse, carrier or tracking number
states the new value in ``after[<field>]`` (the warehouse as its code, "" for none);
``order.created`` states the initial four. Replaying an order's events in chain order, the
value of each field is the last one stated. An order row that differs was written behind the
ledger's back; an event that claims a change the order never made was inserted behind the
application's back. Either is reported with the order and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import connection

from traceability import statements


@dataclass(frozen=True, slots=True)
class ReplayFinding:
    """One order whose row and ledger disagree. ``field`` is "" for a problem of the whole
    order (no ``order.created`` event, or events of an order that does not exist)."""

    order_id: int
    order_label: str
    field: str
    problem: str

    def describe(self) -> str:
        label = f" ({self.order_label})" if self.order_label else ""
        where = f" field {self.field}" if self.field else ""
        return f"order {self.order_id}{label}{where}: {self.problem}"


@dataclass(frozen=True, slots=True)
class ReplayReport:
    orders: int
    events: int
    findings: tuple[ReplayFinding, ...]
    # Orders whose events never state some field (created before ``order.created`` carried
    # the initial values): those fields cannot be compared.
    unstated: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def ledger_replay() -> ReplayReport:
    """Compare each order's status, warehouse, carrier and tracking number with the last value
    its ledger events state (sealed events in seq order, then the unsealed ones by id).

    One statement does the work in the database and returns only the orders that disagree,
    so the cost follows the number of events, not the Python side. Reports, per order in id
    order: an order with no ``order.created`` event, events of an order that does not exist,
    and each field whose values differ ("ledger says X, order has Y"). A field no event states
    is not compared (only orders created before ``order.created`` stated their initial
    values); they are counted in ``unstated`` and named in a warning.
    """
    params = {"order_actions": statements.ORDER_ACTIONS, "created": statements.ORDER_CREATED}
    with connection.cursor() as cursor:
        cursor.execute(statements.replay(), params)
        rows = cursor.fetchall()
        cursor.execute(statements.replay_totals(), params)
        orders, events = cursor.fetchone()
    findings: list[ReplayFinding] = []
    unstated = 0
    for order_id, channel, external_id, exists, created, *values in rows:
        label = f"{channel}:{external_id}" if exists else ""
        if not exists:
            findings.append(
                ReplayFinding(
                    order_id, "", "", "the ledger has events of an order that does not exist"
                )
            )
            continue
        if not created:
            findings.append(ReplayFinding(order_id, label, "", "no order.created event"))
        held, stated = values[:4], values[4:]
        if any(value is None for value in stated) and created:
            unstated += 1
        for name, order_value, ledger_value in zip(
            statements.REPLAYED_FIELDS, held, stated, strict=True
        ):
            if ledger_value is not None and ledger_value != order_value:
                problem = f"ledger says {_quoted(ledger_value)}, order has {_quoted(order_value)}"
                findings.append(ReplayFinding(order_id, label, name, problem))
    warnings = []
    if unstated:
        warnings.append(
            f"{unstated} orders were created before order.created stated their initial values: "
            "the fields no later event states were not compared"
        )
    return ReplayReport(orders, events, tuple(findings), unstated, tuple(warnings))
