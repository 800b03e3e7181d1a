"""Two things the ORM does not offer for the hot paths.

- ``rows_update``: one UPDATE of many rows, each with its own values. Django's
  ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row, which
  costs more Python time than the database spends on the rows; PostgreSQL's
  ``UPDATE … FROM (VALUES …)`` does the same job with plain parameters.
- ``prepared_cursor``: a cursor whose statements PostgreSQL keeps planned.
- ``pairs_q``: rows whose two columns match one of many pairs, as one ``IN`` per distinct
  first value instead of one ``AND`` term per pair (a Q of a hundred pairs costs more Python
  time to compile than the database spends on it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Field, Model, Q


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
