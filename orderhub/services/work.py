"""The writes of one order transaction, collected in memory and flushed set-wise.

A service moves locked orders along in memory (``lifecycle.step``), stores facts and replaces
lines through an ``OrderWork``; ``flush`` then writes everything with a fixed number of
statements whatever the number of orders: one COPY per table for lines, facts, history and
ledger events, one UPDATE for the orders. Processing a batch of a hundred messages costs about
as many round trips as processing one. The rows are kept as plain tuples (history snapshots,
lines) and written by ``orderhub.sql.rows_copy``: no model instance is built for a row nobody
reads back, and no field prepares its value one by one (that was most of the Python time).

Rules for callers: every order handed to ``OrderWork`` was locked (``select_for_update``) in
the current transaction, and ``flush`` runs before that transaction commits.

After writing, ``flush`` tells the listeners (``orderhub.hooks``): the fact hooks get the
facts it stored and the transition hooks the transitions it wrote, as frozen events built
from the orders in memory (no extra statement, unless an order's warehouse was never loaded:
then one for all of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from orderhub.hooks import FactEvent, OrderSnapshot, TransitionEvent, hooks_run
from orderhub.models import Order, OrderLine, Product, StatusFact, Warehouse
from orderhub.sql import ids_reserve_many, rows_copy, rows_update
from traceability.services import LedgerEventIn, ledger_append_many

if TYPE_CHECKING:
    from orderhub.domain import NormalizedLine


# simple-history's model of Order and the fields it keeps (all but ``updated_at``). Read once:
# each ``Order.history`` access builds a new manager class.
_HISTORICAL = Order.history.model
_TRACKED = _HISTORICAL.tracked_fields
# A history row as COPY writes it: the tracked fields' columns (their values read from the
# order in one call), then simple-history's own columns; ``history_id`` comes from its sequence.
_TRACKED_VALUES = attrgetter(*(f.attname for f in _TRACKED))
_HISTORY_OWN = ("history_date", "history_change_reason", "history_type", "history_user_id")
_HISTORY_COLUMNS = (*(f.column for f in _TRACKED), *_HISTORY_OWN)


def _history_columns_check() -> None:
    """Fail at import if simple-history's table has a column this module does not write
    (an upgrade that adds one must not leave it silently empty)."""
    written = set(_HISTORY_COLUMNS) | {_HISTORICAL._meta.pk.column}
    stored = {f.column for f in _HISTORICAL._meta.concrete_fields}
    if written != stored:
        raise RuntimeError(
            f"history columns differ: unwritten {sorted(stored - written)}, "
            f"unknown {sorted(written - stored)}"
        )


_history_columns_check()
# Columns of the rows COPY writes for lines and facts (ids: lines from their sequence, facts
# reserved up front).
_LINE_COLUMNS = (
    "order_id", "line_no", "product_id", "sku", "title", "quantity", "unit_price", "amount",
)  # fmt: skip
_FACT_FIELDS = tuple(f for f in StatusFact._meta.concrete_fields)
_FACT_COLUMNS = tuple(f.column for f in _FACT_FIELDS)
_FACT_VALUES = attrgetter(*(f.attname for f in _FACT_FIELDS))
_FACT_JSON = tuple(i for i, f in enumerate(_FACT_FIELDS) if f.get_internal_type() == "JSONField")

# The order fields an ``OrderSnapshot`` copies as they are (besides id and warehouse code).
_SNAPSHOT_FIELDS = tuple(
    name for name in OrderSnapshot.__dataclass_fields__ if name not in ("id", "warehouse_code")
)
_WAREHOUSE_FIELD = Order._meta.get_field("warehouse")


def _order_values(order: Order) -> dict[str, Any]:
    """The snapshot fields of ``order`` now, read from memory."""
    values = {name: getattr(order, name) for name in _SNAPSHOT_FIELDS}
    values["id"] = order.pk
    return values


def _cached_warehouse_code(order: Order) -> str | None:
    """The warehouse code if the order's warehouse is loaded (and current), else None."""
    if order.warehouse_id is None:
        return ""
    if _WAREHOUSE_FIELD.is_cached(order):
        warehouse = _WAREHOUSE_FIELD.get_cached_value(order)
        if warehouse is not None and warehouse.pk == order.warehouse_id:
            return str(warehouse.code)
    return None


@dataclass(frozen=True, slots=True)
class _FiredTransition:
    """A transition as ``step`` fired it: the order's snapshot fields right after it."""

    values: dict[str, Any]
    warehouse_code: str | None
    before: str
    after: str
    source: str
    fact_id: int | None


@dataclass
class OrderWork:
    """Pending writes of one transaction; see the module docstring."""

    ledger: list[LedgerEventIn] = field(default_factory=list)
    # Orders this transaction INSERTed, and those whose creating item is not applied yet.
    created_ids: set[int] = field(default_factory=set)
    _creation_pending: set[int] = field(default_factory=set)
    _transitions: list[_FiredTransition] = field(default_factory=list)
    # Orders to UPDATE, by pk, with the fields that changed.
    _dirty: dict[int, tuple[Order, set[str]]] = field(default_factory=dict)
    # History rows ("+" created, "~" changed), in the order they happened, as COPY rows.
    _history: list[tuple[Any, ...]] = field(default_factory=list)
    _facts: list[StatusFact] = field(default_factory=list)
    _facts_reapplied: list[tuple[StatusFact, Order]] = field(default_factory=list)
    _fact_ids: list[int] = field(default_factory=list)
    # Orders whose stored lines go, and the lines that replace them (the last list wins).
    _lines_deleted: set[int] = field(default_factory=set)
    _lines_new: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    # Facts known to be stored (order id, dedupe key), and orders whose stored keys were read.
    _stored_fact_keys: set[tuple[int, str]] = field(default_factory=set)
    _fact_keys_known_for: set[int] = field(default_factory=set)

    # --- orders and history ---------------------------------------------------------------

    def order_created(self, order: Order, *, user: Any | None, reason: str) -> None:
        """An order this transaction INSERTed: it has no facts or lines stored yet."""
        self._snapshot(order, "+", user=user, reason=reason)
        self.created_ids.add(order.pk)
        self._creation_pending.add(order.pk)
        self._fact_keys_known_for.add(order.pk)

    def creation_take(self, order: Order) -> bool:
        """True once for an order this transaction created: for the item that created it."""
        if order.pk in self._creation_pending:
            self._creation_pending.discard(order.pk)
            return True
        return False

    def order_changed(
        self, order: Order, fields: Iterable[str], *, user: Any | None, reason: str
    ) -> None:
        """The order's ``fields`` changed in memory: UPDATE it and keep a history snapshot."""
        entry = self._dirty.setdefault(order.pk, (order, set()))
        entry[1].update(fields)
        self._snapshot(order, "~", user=user, reason=reason)

    def _snapshot(self, order: Order, kind: str, *, user: Any | None, reason: str) -> None:
        """The history row of the order as it is now (what simple-history's own save-time
        record holds)."""
        self._history.append(
            (
                *_TRACKED_VALUES(order),
                timezone.now(),
                reason,
                kind,
                user.pk if user is not None else None,
            )
        )

    def transitioned(
        self, order: Order, *, before: str, after: str, source: str, fact_id: int | None = None
    ) -> None:
        """``order`` just moved from ``before`` to ``after``: the transition hooks hear of it
        at flush, with the order as it is now."""
        self._transitions.append(
            _FiredTransition(
                values=_order_values(order),
                warehouse_code=_cached_warehouse_code(order),
                before=before,
                after=after,
                source=source,
                fact_id=fact_id,
            )
        )

    # --- lines ----------------------------------------------------------------------------

    def lines_replace(self, order: Order, lines: Sequence[NormalizedLine]) -> None:
        """Replace the order's lines (stored or pending) with ``lines``."""
        self._lines_deleted.add(order.pk)
        # (order id, line no, product id filled in at flush, sku, title, quantity, prices)
        self._lines_new[order.pk] = [
            (
                order.pk,
                line.line_no,
                None,
                line.sku,
                line.title,
                line.quantity,
                line.unit_price,
                line.amount,
            )
            for line in lines
        ]

    def lines_add(self, order: Order, lines: Sequence[NormalizedLine]) -> None:
        """First lines of an order created in this transaction (nothing stored to delete)."""
        self.lines_replace(order, lines)
        self._lines_deleted.discard(order.pk)

    # --- facts ----------------------------------------------------------------------------

    def fact_keys_load(self, order_ids: Iterable[int], keys: Iterable[str]) -> None:
        """Read once which of ``keys`` are stored for these orders (instead of per fact)."""
        ids = set(order_ids) - self._fact_keys_known_for
        wanted = set(keys)
        if not ids or not wanted:
            self._fact_keys_known_for |= ids
            return
        self._stored_fact_keys.update(
            StatusFact.objects.filter(order_id__in=ids, dedupe_key__in=wanted).values_list(
                "order_id", "dedupe_key"
            )
        )
        self._fact_keys_known_for |= ids

    def fact_is_stored(self, order_id: int, dedupe_key: str) -> bool:
        if (order_id, dedupe_key) in self._stored_fact_keys:
            return True
        if order_id in self._fact_keys_known_for:
            return False
        return StatusFact.objects.filter(order_id=order_id, dedupe_key=dedupe_key).exists()

    def fact_add(self, row: StatusFact) -> None:
        """Give the fact its id now (the history and ledger name it) and INSERT it at flush."""
        if not self._fact_ids:
            self._fact_ids = _ids_reserve(StatusFact, 1)
        row.pk = self._fact_ids.pop()
        self._facts.append(row)
        self._stored_fact_keys.add((row.order_id, row.dedupe_key))

    def fact_reapplied(self, row: StatusFact, *, order: Order) -> None:
        """A stored fact the caller saved again with a new outcome (its raw status was mapped
        since) for the locked ``order``: the fact hooks hear of it at flush like a new one."""
        self._facts_reapplied.append((row, order))

    def fact_ids_reserve(self, count: int) -> None:
        """Reserve ids for ``count`` facts with one statement (unused ones are left as gaps)."""
        missing = count - len(self._fact_ids)
        if missing > 0:
            self._fact_ids = _ids_reserve(StatusFact, missing) + self._fact_ids

    def order_ids_reserve(self, count: int, *, facts: int = 0) -> list[int]:
        """``count`` fresh order ids (ascending) and, in the same statement, ids for ``facts``
        facts to come (``fact_ids_reserve`` then finds them reserved)."""
        missing = max(0, facts - len(self._fact_ids))
        with connection.cursor() as cursor:
            order_ids, fact_ids = ids_reserve_many(
                cursor,
                [
                    (Order._meta.db_table, Order._meta.pk.column, count),
                    (StatusFact._meta.db_table, StatusFact._meta.pk.column, missing),
                ],
            )
        fact_ids.reverse()
        self._fact_ids = fact_ids + self._fact_ids
        return order_ids

    # --- flush ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything collected (its ledger events included), then run the fact and
        transition hooks (see ``orderhub.hooks``); empties the work."""
        if self._lines_deleted:
            OrderLine.objects.filter(order_id__in=self._lines_deleted).delete()
        new_lines = [line for lines in self._lines_new.values() for line in lines]
        facts = self._facts
        self._facts = []
        with connection.cursor() as cursor:
            if new_lines:
                products = dict(
                    Product.objects.filter(sku__in={line[3] for line in new_lines}).values_list(
                        "sku", "pk"
                    )
                )
                rows_copy(
                    cursor,
                    OrderLine._meta.db_table,
                    _LINE_COLUMNS,
                    ((*line[:2], products.get(line[3]), *line[3:]) for line in new_lines),
                )
            if facts:
                rows_copy(cursor, StatusFact._meta.db_table, _FACT_COLUMNS, map(_fact_row, facts))
                for fact in facts:  # as ``bulk_create`` leaves them: saved rows
                    fact._state.adding = False
                    fact._state.db = connection.alias
        if self._dirty:
            now = timezone.now()
            fields: set[str] = {"updated_at"}
            orders = []
            for order, changed in self._dirty.values():
                order.updated_at = now
                fields |= changed
                orders.append(order)
            rows_update(orders, sorted(fields))
            for order in orders:
                # The rows now hold these states: a later ``save`` compares against them.
                order._update_initial_state()
        if self._history:
            with connection.cursor() as cursor:
                rows_copy(cursor, _HISTORICAL._meta.db_table, _HISTORY_COLUMNS, self._history)
        # The work's own events first: what the listeners record follows what they heard of.
        ledger_append_many(events=self.ledger)
        self.ledger = []
        # Each new fact was built with its (locked) order, so ``fact.order`` costs no query.
        told = [(fact, fact.order) for fact in facts] + self._facts_reapplied
        self._facts_reapplied = []
        fired = self._transitions
        self._transitions = []
        if told or fired:
            fact_events, transition_events = _events(told, fired)
            hooks_run(facts=fact_events, transitions=transition_events)
        self._dirty.clear()
        self._history.clear()
        self._lines_deleted.clear()
        self._lines_new.clear()


def _events(
    facts: Sequence[tuple[StatusFact, Order]], fired: Sequence[_FiredTransition]
) -> tuple[list[FactEvent], list[TransitionEvent]]:
    """The frozen events of a flush, built from memory. Warehouse codes come from the loaded
    warehouses; the others (if any) are read with one statement."""
    fact_orders = [
        (fact, _order_values(order), _cached_warehouse_code(order)) for fact, order in facts
    ]
    missing = {f.values["warehouse_id"] for f in fired if f.warehouse_code is None} | {
        values["warehouse_id"] for _fact, values, code in fact_orders if code is None
    }
    codes: dict[int, str] = (
        dict(Warehouse.objects.filter(pk__in=missing).values_list("pk", "code")) if missing else {}
    )

    def snapshot(values: dict[str, Any], code: str | None) -> OrderSnapshot:
        if code is None:
            code = codes.get(values["warehouse_id"], "")
        return OrderSnapshot(warehouse_code=code, **values)

    fact_events = [
        FactEvent(
            fact_id=fact.pk,
            order=snapshot(values, code),
            system=fact.system,
            raw_status=fact.raw_status,
            milestone=fact.milestone,
            occurred_at=fact.occurred_at,
            received_at=fact.received_at,
            outcome=fact.outcome,
            status_before=fact.status_before,
            status_after=fact.status_after,
        )
        for fact, values, code in fact_orders
    ]
    transition_events = [
        TransitionEvent(
            order=snapshot(f.values, f.warehouse_code),
            before=f.before,
            after=f.after,
            source=f.source,
            fact_id=f.fact_id,
        )
        for f in fired
    ]
    return fact_events, transition_events


def _fact_row(fact: StatusFact) -> tuple[Any, ...]:
    """The COPY row of a fact: every column from its attribute, the JSON ones wrapped."""
    row = list(_FACT_VALUES(fact))
    for index in _FACT_JSON:
        row[index] = Jsonb(row[index])
    return tuple(row)


def _ids_reserve(model: type[Any], count: int) -> list[int]:
    """``count`` fresh ids from the table's own sequence, highest first (for ``pop``)."""
    with connection.cursor() as cursor:
        [ids] = ids_reserve_many(cursor, [(model._meta.db_table, model._meta.pk.column, count)])
    ids.reverse()
    return ids
