"""Reads of the health app. Nothing here writes."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from django.db.models import QuerySet
from psycopg.types.numeric import Int8

from channels_app.models import ChannelAccount, OutboxEntry, OutboxStatus
from health.models import Anomaly, CategoryChapters, RuleOverride, RuleSetting
from health.rules.base import (
    FactView,
    LineView,
    OrderView,
    ShortageView,
    TrackingView,
    WriteBackView,
    rules,
)
from orderhub.choices import Milestone, OrderType
from orderhub.models import (
    Order,
    OrderLine,
    Product,
    StatusFact,
    StockShortage,
    TrackingEvent,
    Warehouse,
)
from orderhub.selectors import order_visible_to
from orderhub.sql import prepared_cursor


def order_views_build(order_ids: Iterable[int]) -> dict[int, OrderView]:
    """The rules' view of each order, with at most six statements whatever their number:
    the orders and their facts always; tracking events only of orders with a waybill, open
    shortages only of orders not yet in a warehouse, lines only of cross-border orders,
    acknowledged write-backs only of orders past the warehouse.

    Each statement's text is fixed (the ids go in one ``= ANY(%s)`` array parameter), and
    it runs on a server-binding cursor: PostgreSQL keeps its plan across flushes instead of
    planning an ``IN`` list of a new length each time."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    sql = _view_statements()
    with prepared_cursor() as cursor:
        cursor.execute(sql.orders, [_bigints(ids)])
        orders = cursor.fetchall()
        facts: dict[int, list[FactView]] = defaultdict(list)
        cursor.execute(sql.facts, [_bigints(ids)])
        for fact_row in cursor.fetchall():
            facts[fact_row[0]].append(FactView(*fact_row[1:]))
        tracking: dict[int, list[TrackingView]] = defaultdict(list)
        tracked = [row[0] for row in orders if row[7]]
        if tracked:
            cursor.execute(sql.tracking, [_bigints(tracked)])
            for event_row in cursor.fetchall():
                tracking[event_row[0]].append(TrackingView(*event_row[1:]))
        shortages: dict[int, list[ShortageView]] = defaultdict(list)
        waiting = [row[0] for row in orders if row[3] in _BEFORE_WAREHOUSE]
        if waiting:
            cursor.execute(sql.shortages, [_bigints(waiting)])
            for shortage_row in cursor.fetchall():
                shortages[shortage_row[0]].append(ShortageView(*shortage_row[1:]))
        lines: dict[int, list[LineView]] = defaultdict(list)
        crossing = [row[0] for row in orders if row[4] == OrderType.CROSS_BORDER]
        if crossing:
            cursor.execute(sql.lines, [_bigints(crossing)])
            for line_row in cursor.fetchall():
                lines[line_row[0]].append(LineView(*line_row[1:]))
        # Acknowledged write-backs of orders past the warehouse (what sync_lag counts as
        # mirrored).
        writebacks: dict[int, list[WriteBackView]] = defaultdict(list)
        sent = [row[0] for row in orders if row[3] not in _BEFORE_WAREHOUSE]
        if sent:
            cursor.execute(sql.writebacks, [_bigints(sent), OutboxStatus.ACKNOWLEDGED])
            for entry_row in cursor.fetchall():
                writebacks[entry_row[0]].append(WriteBackView(*entry_row[1:]))
    return {
        row[0]: OrderView(
            id=row[0],
            channel=row[1],
            external_id=row[2],
            status=row[3],
            order_type=row[4],
            warehouse_code=row[5],
            carrier=row[6],
            tracking_number=row[7],
            ship_by=row[8],
            facts=tuple(facts[row[0]]),
            tracking=tuple(tracking[row[0]]),
            shortages=tuple(shortages[row[0]]),
            lines=tuple(lines[row[0]]),
            writebacks=tuple(writebacks[row[0]]),
        )
        for row in orders
    }


def _bigints(ids: Iterable[int]) -> list[Int8]:
    """An id array of one type whatever its values (psycopg would pick smallint[] for small
    ids, bigint[] for large ones: two statements to prepare instead of one)."""
    return [Int8(pk) for pk in ids]


@dataclass(frozen=True, slots=True)
class _ViewStatements:
    orders: str
    facts: str
    tracking: str
    shortages: str
    lines: str
    writebacks: str


@lru_cache(maxsize=1)
def _view_statements() -> _ViewStatements:
    """The SQL of ``order_views_build`` (built once, from the models' table names). Columns
    are in the order of the views' fields, the order id first."""
    order, warehouse = Order._meta.db_table, Warehouse._meta.db_table
    return _ViewStatements(
        orders=(
            "SELECT o.id, o.channel, o.external_id, o.status, o.order_type, "  # noqa: S608 - model table names
            "coalesce(w.code, ''), o.carrier, o.tracking_number, o.ship_by "
            f"FROM {order} o LEFT JOIN {warehouse} w ON w.id = o.warehouse_id "
            "WHERE o.id = ANY(%s) ORDER BY o.id"
        ),
        facts=(
            "SELECT order_id, id, system, raw_status, milestone, outcome, occurred_at, "  # noqa: S608 - model table names
            f"received_at FROM {StatusFact._meta.db_table} WHERE order_id = ANY(%s) "
            "ORDER BY order_id, occurred_at, id"
        ),
        tracking=(
            "SELECT order_id, id, system, tracking_number, stage, raw_state, occurred_at, "  # noqa: S608 - model table names
            "raw_substate "
            f"FROM {TrackingEvent._meta.db_table} WHERE order_id = ANY(%s) "
            "ORDER BY order_id, occurred_at, id"
        ),
        shortages=(
            "SELECT s.order_id, s.id, s.sku, w.code, s.missing, s.opened_at "  # noqa: S608 - model table names
            f"FROM {StockShortage._meta.db_table} s JOIN {warehouse} w ON w.id = s.warehouse_id "
            "WHERE s.order_id = ANY(%s) AND s.resolved_at IS NULL ORDER BY s.order_id, s.sku"
        ),
        lines=(
            "SELECT l.order_id, l.line_no, l.sku, coalesce(p.category, ''), "  # noqa: S608 - model table names
            f"coalesce(p.hs_code, '') FROM {OrderLine._meta.db_table} l "
            f"LEFT JOIN {Product._meta.db_table} p ON p.id = l.product_id "
            "WHERE l.order_id = ANY(%s) ORDER BY l.order_id, l.line_no"
        ),
        writebacks=(
            "SELECT e.order_id, e.id, a.kind || ':' || a.code, e.action, e.milestone, "  # noqa: S608 - model table names
            f"e.acknowledged_at FROM {OutboxEntry._meta.db_table} e "
            f"JOIN {ChannelAccount._meta.db_table} a ON a.id = e.account_id "
            "WHERE e.order_id = ANY(%s) AND e.status = %s AND e.acknowledged_at IS NOT NULL "
            "ORDER BY e.order_id, e.acknowledged_at, e.id"
        ),
    )


# Orders whose stock may still be short (a shortage is recorded while the order is paid).
_BEFORE_WAREHOUSE = frozenset({Milestone.PLACED, Milestone.PAID, Milestone.STOCK_LOCKED})


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Every rule's switch and parameters as stored now (read afresh per evaluation, so one
    config serves one batch: its merged parameters are kept per (rule, channel))."""

    enabled: Mapping[str, bool]
    params: Mapping[str, Mapping[str, Any]]
    overrides: Mapping[tuple[str, str], Mapping[str, Any]]
    category_chapters: Mapping[str, list[str]]
    _merged: dict[tuple[str, str], Mapping[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def is_enabled(self, kind: str) -> bool:
        return self.enabled.get(kind, True)

    def params_for(self, kind: str, channel: str) -> Mapping[str, Any]:
        """The rule's defaults, under its setting, under the channel's override (and the
        category → HS chapters mapping for ``customs_hs_code``). Merged once per (rule,
        channel) and read-only: every order of the batch on that channel shares it."""
        key = (kind, channel)
        merged = self._merged.get(key)
        if merged is None:
            params = {
                **rules.get(kind).defaults,
                **self.params.get(kind, {}),
                **self.overrides.get(key, {}),
            }
            if kind == "customs_hs_code":
                params["category_chapters"] = self.category_chapters
            merged = self._merged[key] = MappingProxyType(params)
        return merged


@lru_cache(maxsize=1)
def _config_statement() -> str:
    """Settings, overrides and category chapters in one statement (fixed text: prepared)."""
    return (
        "SELECT (SELECT coalesce(json_agg(json_build_array(kind, enabled, params)), '[]') "  # noqa: S608 - model table names
        f"FROM {RuleSetting._meta.db_table}), "
        "(SELECT coalesce(json_agg(json_build_array(kind, channel, params)), '[]') "
        f"FROM {RuleOverride._meta.db_table}), "
        "(SELECT coalesce(json_agg(json_build_array(category, chapters)), '[]') "
        f"FROM {CategoryChapters._meta.db_table})"
    )


def rule_config_load() -> RuleConfig:
    """The stored settings, overrides and category chapters, read with one statement."""
    with prepared_cursor() as cursor:
        cursor.execute(_config_statement())
        stored_settings, stored_overrides, stored_chapters = cursor.fetchone()
    enabled: dict[str, bool] = {}
    params: dict[str, Mapping[str, Any]] = {}
    for kind, is_enabled, values in _json(stored_settings):
        enabled[kind] = bool(is_enabled)
        params[kind] = values or {}
    overrides = {(kind, channel): values or {} for kind, channel, values in _json(stored_overrides)}
    chapters = {
        category: [str(chapter) for chapter in values or []]
        for category, values in _json(stored_chapters)
    }
    return RuleConfig(
        enabled=enabled, params=params, overrides=overrides, category_chapters=chapters
    )


def _json(value: Any) -> list[Any]:
    """A json column as psycopg returns it (already decoded, or text)."""
    return list(json.loads(value) if isinstance(value, str | bytes) else value)


def anomaly_list(
    *,
    user: Any,
    channel: str = "",
    external_id: str = "",
    order_id: int | None = None,
    kind: str = "",
    is_open: bool | None = None,
) -> QuerySet[Anomaly]:
    """Anomalies of the orders ``user`` may see (warehouse-scoped like orders), newest first."""
    queryset = Anomaly.objects.filter(order__in=order_visible_to(user)).select_related("order")
    if channel:
        queryset = queryset.filter(order__channel=channel)
    if external_id:
        queryset = queryset.filter(order__external_id=external_id)
    if order_id is not None:
        queryset = queryset.filter(order_id=order_id)
    if kind:
        queryset = queryset.filter(kind=kind)
    if is_open is not None:
        queryset = queryset.filter(resolved_at__isnull=is_open)
    return queryset.order_by("-opened_at", "-id")
