"""What the ORM does not offer for the hot paths.

- ``rows_update``: one UPDATE of many rows, each with its own values. Django's
  ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row, which
  costs more Python time than the database spends on the rows; PostgreSQL's
  ``UPDATE … FROM (VALUES …)`` does the same job with plain parameters.
- ``prepared_cursor``: a cursor whose statements PostgreSQL keeps planned.
- ``pairs_q``: rows whose two columns match one of many pairs, as one ``IN`` per distinct
  first value instead of one ``AND`` term per pair (a Q of a hundred pairs costs more Python
  time to compile than the database spends on it).
- ``rows_copy``: many new rows with one ``COPY … FROM STDIN``, from plain tuples. ``bulk_create``
  builds a model instance per row and prepares every field's value through the field; for the
  rows a flush writes that is most of the Python time of processing a message.
- ``ids_reserve_many``: ids taken from a table's sequence up front, so rows written by COPY
  (or by anything else) can be named before they are written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Field, Model, Q
from psycopg import sql


def pairs_q(first: str, second: str, pairs: Iterable[tuple[Any, Any]]) -> Q:
    """Rows whose (``first``, ``second``) is one of ``pairs``: ``first = a AND second IN
    (…)`` for each distinct ``a``, OR-ed. No pairs: a Q that matches nothing."""
    grouped: dict[Any, set[Any]] = defaultdict(set)
    for a, b in pairs:
        grouped[a].add(b)
    condition = Q(pk__in=[])
    for a in sorted(grouped):
        condition |= Q(**{first: a, f"{second}__in": sorted(grouped[a])})
    return condition


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """UPDATE ``fields`` of every object's row to the object's values; rows updated.

    All objects are of one model and saved already. No signals are sent and no ``auto_now``
    value is set: the caller sets what it writes.
    """
    if not objs:
        return 0
    meta = type(objs[0])._meta
    quote = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    columns: list[Field[Any, Any]] = [pk]
    for name in fields:
        field = meta.get_field(name)
        if not isinstance(field, Field) or not field.concrete:
            raise ValueError(f"{meta.label}.{name} is not a concrete field")
        columns.append(field)
    # The first row carries the casts that give the VALUES columns their types.
    first = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    rest = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params: list[Any] = []
    for obj in objs:
        params.extend(
            field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns
        )
    names = [f"c{index}" for index in range(len(columns))]
    assignments = ", ".join(
        f"{quote(str(field.column))} = v.{name}"
        for field, name in zip(columns[1:], names[1:], strict=True)
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - quoted model identifiers
        f"FROM (VALUES {', '.join([first, *[rest] * (len(objs) - 1)])}) AS v({', '.join(names)}) "
        f"WHERE t.{quote(pk.column)} = v.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def prepared_cursor() -> Any:
    """A cursor that binds parameters on the server, so that PostgreSQL keeps the plan of a
    statement run over and over (psycopg prepares it after the connection's
    ``prepare_threshold`` runs; the ORM's cursors bind on the client and are never prepared).
    For a small statement on a hot path, planning costs more than running it."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    # Django's wrappers (error translation, query capture); the stubs type their argument as
    # the wrapper itself.
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)  # type: ignore[arg-type]
    return connection.make_cursor(cursor)  # type: ignore[arg-type]


@cache
def _copy_statement(table: str, columns: tuple[str, ...]) -> str:
    return (
        sql.SQL("COPY {table} ({columns}) FROM STDIN")
        .format(
            table=sql.Identifier(table),
            columns=sql.SQL(", ").join(sql.Identifier(column) for column in columns),
        )
        .as_string()
    )


def rows_copy(
    cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Write ``rows`` (one value per column, in ``columns`` order) into ``table`` with one
    ``COPY … FROM STDIN`` on the Django ``cursor``; returns the number of rows written.

    Values go through psycopg's text dumpers, as parameters would: ``None`` is NULL, text is
    escaped (tabs, newlines, backslashes), a ``datetime`` keeps its time zone. A JSON column
    takes ``psycopg.types.json.Jsonb`` (a plain ``list`` would be dumped as an array). Columns
    left out get their defaults (a serial id: the next value of its sequence, row by row, so
    ids grow in the order of ``rows``). Every constraint and row trigger applies as for an
    INSERT; a refused row refuses the whole COPY, raised as Django's database errors
    (``IntegrityError``, ``DataError``, …). The statement is seen by the connection's
    execute wrappers and, when queries are logged, by ``connection.queries`` like any other.
    """
    statement = _copy_statement(table, tuple(columns))
    db = cursor.db

    def copy(statement: str, _params: Any, _many: bool, _context: dict[str, Any]) -> int:
        db.validate_no_broken_transaction()
        written = 0
        with db.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
        return written

    if db.queries_logged and hasattr(cursor, "debug_sql"):
        with cursor.debug_sql(statement):
            return int(cursor._execute_with_wrappers(statement, None, False, copy))
    return int(cursor._execute_with_wrappers(statement, None, False, copy))


def ids_reserve_many(cursor: Any, wanted: Sequence[tuple[str, str, int]]) -> list[list[int]]:
    """Fresh ids from the sequences that feed ``table.column``, ``count`` of each of ``wanted``
    (``(table, column, count)``), with one statement; one ascending list per item.

    Ids reserved and never used stay gaps: a sequence never gives a value twice, whatever
    happens to the transaction.
    """
    parts = [
        sql.SQL(
            "SELECT {index}, nextval(pg_get_serial_sequence({table}, {column})) "
            "FROM generate_series(1, {count})"
        ).format(
            index=sql.Literal(index),
            table=sql.Literal(table),
            column=sql.Literal(column),
            count=sql.Literal(int(count)),
        )
        for index, (table, column, count) in enumerate(wanted)
        if count > 0
    ]
    result: list[list[int]] = [[] for _item in wanted]
    if not parts:
        return result
    cursor.execute(sql.SQL(" UNION ALL ").join(parts).as_string())
    for index, value in cursor.fetchall():
        result[index].append(int(value))
    for ids in result:
        ids.sort()
    return result
