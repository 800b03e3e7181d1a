"""Every SQL statement of the ledger, composed with ``psycopg.sql`` from the models' tables.

Table names are quoted identifiers taken from the models; values are always named parameters
(``%(name)s``), never text pasted into a statement. Each statement is rendered once, on first
use, and kept as text: the append runs on every write and the sealer every few seconds, so
neither pays for composing it again. The one exception to named parameters is
``append_returning``, which a caller embeds in a statement of its own with positional ones.
"""

from __future__ import annotations

from functools import cache

from psycopg import sql

from traceability.chain import EVENT_COLUMNS

# pg_advisory_xact_lock key of the sealer: one sealer at a time, whatever the process.
SEAL_LOCK_KEY = 0x0DE7_1ED6E5
# Actions whose ``after`` states the new value of an order's replayed fields.
ORDER_ACTIONS = "order.%"
ORDER_CREATED = "order.created"


def _tables() -> dict[str, sql.Composable]:
    from orderhub.models import Order, Warehouse
    from traceability.models import LedgerEvent, LedgerSeal

    return {
        "event": sql.Identifier(LedgerEvent._meta.db_table),
        "seal": sql.Identifier(LedgerSeal._meta.db_table),
        "order": sql.Identifier(Order._meta.db_table),
        "warehouse": sql.Identifier(Warehouse._meta.db_table),
        "columns": sql.SQL(EVENT_COLUMNS),
    }


def _render(template: str) -> str:
    return sql.SQL(template).format(**_tables()).as_string()


@cache
def append() -> str:
    """One event; parameters: created_at, actor, action, order_id, subject_type, subject_id,
    source_system, before, after, references. Returns its id."""
    return _render(
        "INSERT INTO {event} (created_at, actor, action, order_id, subject_type, subject_id, "
        'source_system, before, after, "references") VALUES (%(created_at)s, %(actor)s, '
        "%(action)s, %(order_id)s, %(subject_type)s, %(subject_id)s, %(source_system)s, "
        "%(before)s, %(after)s, %(references)s) RETURNING id"
    )


def append_returning(*, rows: str, subject_id: str, references: str) -> str:
    """One event per row of the caller's CTE ``rows``: see
    ``traceability.services.ledger_append_returning_sql``. Positional parameters, because the
    caller's statement around it uses them (psycopg does not mix the two styles)."""
    return (
        sql.SQL(
            "INSERT INTO {event} (created_at, actor, action, order_id, subject_type, subject_id, "
            'source_system, before, after, "references") '
            "SELECT %s, %s, %s, NULL, %s, {subject_id}, %s, '{{}}'::jsonb, %s::jsonb, "
            "{references} FROM {rows}"
        )
        .format(
            event=_tables()["event"],
            # SQL expressions written by the calling module, never data.
            subject_id=sql.SQL(subject_id),
            references=sql.SQL(references),
            rows=sql.Identifier(rows),
        )
        .as_string()
    )


@cache
def seal_lock() -> str:
    return _render("SELECT pg_try_advisory_xact_lock(%(key)s)")


@cache
def chain_head() -> str:
    """(seq, hash) of the newest seal, or no row."""
    return _render("SELECT seq, hash FROM {seal} ORDER BY seq DESC LIMIT 1")


@cache
def newest_sealed_event() -> str:
    return _render("SELECT max(event_id) FROM {seal}")


@cache
def unsealed_batch() -> str:
    """Committed events above ``after_id`` without a seal, by id, at most ``limit``."""
    return _render(
        "SELECT {columns} FROM {event} e WHERE e.id > %(after_id)s AND NOT EXISTS "
        "(SELECT 1 FROM {seal} s WHERE s.event_id = e.id) ORDER BY e.id LIMIT %(limit)s"
    )


@cache
def seal_copy() -> str:
    return _render("COPY {seal} (seq, event_id, prev_hash, hash, sealed_at) FROM STDIN")


@cache
def sealed_count() -> str:
    return _render("SELECT count(*) FROM {seal}")


@cache
def unsealed_count() -> str:
    return _render(
        "SELECT count(*) FROM {event} e WHERE NOT EXISTS "
        "(SELECT 1 FROM {seal} s WHERE s.event_id = e.id)"
    )


@cache
def chain_walk() -> str:
    """Every seal in seq order with its event's chained fields (NULLs when the event is gone)."""
    return _render(
        "SELECT s.seq, s.event_id, s.prev_hash, s.hash, {columns} FROM {seal} s "
        "LEFT JOIN {event} e ON e.id = s.event_id ORDER BY s.seq"
    )


REPLAYED_FIELDS = ("status", "warehouse", "carrier", "tracking_number")


@cache
def replay() -> str:
    """Per order: the last value the ledger states for each replayed field (``order.*`` events
    in chain order, unsealed ones after the sealed, by id) beside the order's row, for the
    orders where they can differ: a field that differs or that no event states, no
    ``order.created`` event, or events of an order that does not exist. One statement, so one
    snapshot: a change committed while it runs is seen with its event or not at all.

    Parameters: ``order_actions`` (a LIKE pattern) and ``created`` (the creating action).
    Columns: order id, channel, external id, order exists, created, the order's four values,
    the ledger's four values (NULL when no event states one), in ``REPLAYED_FIELDS`` order.
    """
    fields = [(sql.Identifier(name), sql.Literal(name)) for name in REPLAYED_FIELDS]
    last_values = sql.SQL(",\n        ").join(
        sql.SQL(
            "(array_agg(e.after ->> {key} ORDER BY s.seq DESC NULLS FIRST, e.id DESC) "
            "FILTER (WHERE e.after ? {key}))[1] AS {name}"
        ).format(key=key, name=name)
        for name, key in fields
    )
    ledger_values = sql.SQL(", ").join(sql.SQL("r.{}").format(name) for name, _key in fields)
    differs = sql.SQL("\n    OR ").join(
        sql.SQL("r.{name} IS NULL OR r.{name} <> o.{name}").format(name=name)
        for name, _key in fields
    )
    template = sql.SQL(
        "WITH replayed AS (\n"
        "    SELECT e.order_id, bool_or(e.action = %(created)s) AS created,\n"
        "        {last_values}\n"
        "    FROM {event} e LEFT JOIN {seal} s ON s.event_id = e.id\n"
        "    WHERE e.order_id IS NOT NULL AND e.action LIKE %(order_actions)s\n"
        "    GROUP BY e.order_id\n"
        "), current AS (\n"
        "    SELECT o.id, o.channel, o.external_id, o.status, coalesce(w.code, '') AS warehouse,\n"
        "        o.carrier, o.tracking_number\n"
        "    FROM {order} o LEFT JOIN {warehouse} w ON w.id = o.warehouse_id\n"
        ")\n"
        "SELECT coalesce(o.id, r.order_id), o.channel, o.external_id, o.id IS NOT NULL,\n"
        "    coalesce(r.created, false), o.status, o.warehouse, o.carrier, o.tracking_number,\n"
        "    {ledger_values}\n"
        "FROM current o FULL JOIN replayed r ON r.order_id = o.id\n"
        "WHERE o.id IS NULL OR r.order_id IS NULL OR NOT r.created\n"
        "    OR {differs}\n"
        "ORDER BY 1"
    )
    return template.format(
        last_values=last_values, ledger_values=ledger_values, differs=differs, **_tables()
    ).as_string()


@cache
def replay_totals() -> str:
    """(orders, order events) the replay covered."""
    return _render(
        "SELECT (SELECT count(*) FROM {order}), (SELECT count(*) FROM {event} e "
        "WHERE e.order_id IS NOT NULL AND e.action LIKE %(order_actions)s)"
    )
