"""The writes of one order transaction, collected in memory and flushed set-wise.

A service moves locked orders along in memory (``lifecycle.step``), stores facts and replaces
lines through an ``OrderWork``; ``flush`` then writes everything with a fixed number of
statements whatever the number of orders: one INSERT per table for lines, facts, history and
ledger events, one UPDATE for the orders. Processing a batch of a hundred messages costs about
as many round trips as processing one.

Rules for callers: every order handed to ``OrderWork`` was locked (``select_for_update``) in
the current transaction, and ``flush`` runs before that transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone

from orderhub.models import Order, OrderLine, Product, StatusFact
from orderhub.sql import rows_update
from traceability.services import LedgerEventIn, ledger_append_many

if TYPE_CHECKING:
    from orderhub.domain import NormalizedLine


# simple-history's model of Order and the fields it keeps (all but ``updated_at``). Read once:
# each ``Order.history`` access builds a new manager class.
_HISTORICAL = Order.history.model
_TRACKED = _HISTORICAL.tracked_fields


@dataclass(frozen=True, slots=True)
class Transition:
    """One fired transition, handed to the transition hooks at flush time.

    ``order`` is a snapshot of the order right after this transition (later transitions of the
    same flush do not show in it).
    """

    order: Order
    before: str
    after: str
    source: str


@dataclass
class OrderWork:
    """Pending writes of one transaction; see the module docstring."""

    ledger: list[LedgerEventIn] = field(default_factory=list)
    # Orders this transaction INSERTed, and those whose creating item is not applied yet.
    created_ids: set[int] = field(default_factory=set)
    _creation_pending: set[int] = field(default_factory=set)
    transitions: list[Transition] = field(default_factory=list)
    # Orders to UPDATE, by pk, with the fields that changed.
    _dirty: dict[int, tuple[Order, set[str]]] = field(default_factory=dict)
    # History rows ("+" created, "~" changed), in the order they happened.
    _history: list[Any] = field(default_factory=list)
    _facts: list[StatusFact] = field(default_factory=list)
    _fact_ids: list[int] = field(default_factory=list)
    # Orders whose stored lines go, and the lines that replace them (the last list wins).
    _lines_deleted: set[int] = field(default_factory=set)
    _lines_new: dict[int, list[OrderLine]] = field(default_factory=dict)
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
            _HISTORICAL(
                history_date=timezone.now(),
                history_user=user,
                history_change_reason=reason,
                history_type=kind,
                **{field.attname: getattr(order, field.attname) for field in _TRACKED},
            )
        )

    def transitioned(self, order: Order, *, before: str, after: str, source: str) -> None:
        snapshot = Order.__new__(Order)
        snapshot.__dict__ = order.__dict__.copy()  # the field values as they are now
        self.transitions.append(
            Transition(order=snapshot, before=before, after=after, source=source)
        )

    # --- lines ----------------------------------------------------------------------------

    def lines_replace(self, order: Order, lines: Sequence[NormalizedLine]) -> None:
        """Replace the order's lines (stored or pending) with ``lines``."""
        self._lines_deleted.add(order.pk)
        self._lines_new[order.pk] = [
            OrderLine(
                order=order,
                line_no=line.line_no,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
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

    def fact_ids_reserve(self, count: int) -> None:
        """Reserve ids for ``count`` facts with one statement (unused ones are left as gaps)."""
        missing = count - len(self._fact_ids)
        if missing > 0:
            self._fact_ids = _ids_reserve(StatusFact, missing) + self._fact_ids

    # --- flush ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything collected, then run the transition hooks; empties the work."""
        from orderhub.services.lifecycle import transition_hooks

        if self._lines_deleted:
            OrderLine.objects.filter(order_id__in=self._lines_deleted).delete()
        new_lines = [line for lines in self._lines_new.values() for line in lines]
        if new_lines:
            products = Product.objects.in_bulk({line.sku for line in new_lines}, field_name="sku")
            for line in new_lines:
                line.product = products.get(line.sku)
            OrderLine.objects.bulk_create(new_lines)
        if self._facts:
            StatusFact.objects.bulk_create(self._facts)
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
            _HISTORICAL.objects.bulk_create(self._history)
        transitions = self.transitions
        self.transitions = []
        if transitions:
            for _name, hook in transition_hooks.items():
                hook(transitions)
        ledger_append_many(events=self.ledger)
        self.ledger = []
        self._dirty.clear()
        self._history.clear()
        self._facts.clear()
        self._lines_deleted.clear()
        self._lines_new.clear()


def _ids_reserve(model: type[Any], count: int) -> list[int]:
    """``count`` fresh ids from the table's own sequence, highest first (for ``pop``)."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return sorted((int(row[0]) for row in cursor.fetchall()), reverse=True)
