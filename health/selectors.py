"""Reads of the health app. Nothing here writes."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from channels_app.models import OutboxEntry, OutboxStatus
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
from orderhub.models import Order, OrderLine, StatusFact, StockShortage, TrackingEvent
from orderhub.selectors import order_visible_to


def order_views_build(order_ids: Iterable[int]) -> dict[int, OrderView]:
    """The rules' view of each order, with at most six statements whatever their number:
    the orders and their facts always; tracking events only of orders with a waybill, open
    shortages only of orders not yet in a warehouse, lines only of cross-border orders,
    acknowledged write-backs only of orders past the warehouse."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    orders = list(
        Order.objects.filter(pk__in=ids).values(
            "id", "channel", "external_id", "status", "order_type", "warehouse__code",
            "carrier", "tracking_number", "ship_by",
        )
    )  # fmt: skip
    facts: dict[int, list[FactView]] = defaultdict(list)
    for fact_row in (
        StatusFact.objects.filter(order_id__in=ids)
        .order_by("order_id", "occurred_at", "id")
        .values_list(
            "order_id", "id", "system", "raw_status", "milestone", "outcome", "occurred_at",
            "received_at",
        )
    ):  # fmt: skip
        facts[fact_row[0]].append(FactView(*fact_row[1:]))
    tracked = [row["id"] for row in orders if row["tracking_number"]]
    tracking: dict[int, list[TrackingView]] = defaultdict(list)
    if tracked:
        for event_row in (
            TrackingEvent.objects.filter(order_id__in=tracked)
            .order_by("order_id", "occurred_at", "id")
            .values_list(
                "order_id", "id", "system", "tracking_number", "stage", "raw_state", "occurred_at"
            )
        ):
            tracking[event_row[0]].append(TrackingView(*event_row[1:]))
    waiting = [row["id"] for row in orders if row["status"] in _BEFORE_WAREHOUSE]
    shortages: dict[int, list[ShortageView]] = defaultdict(list)
    if waiting:
        for shortage_row in (
            StockShortage.objects.filter(order_id__in=waiting, resolved_at__isnull=True)
            .order_by("order_id", "sku")
            .values_list("order_id", "id", "sku", "warehouse__code", "missing", "opened_at")
        ):
            shortages[shortage_row[0]].append(ShortageView(*shortage_row[1:]))
    crossing = [row["id"] for row in orders if row["order_type"] == OrderType.CROSS_BORDER]
    lines: dict[int, list[LineView]] = defaultdict(list)
    if crossing:
        for line_row in (
            OrderLine.objects.filter(order_id__in=crossing)
            .order_by("order_id", "line_no")
            .values_list("order_id", "line_no", "sku", "product__category", "product__hs_code")
        ):
            lines[line_row[0]].append(
                LineView(line_row[1], line_row[2], line_row[3] or "", line_row[4] or "")
            )
    # Acknowledged write-backs of orders past the warehouse (what sync_lag counts as mirrored).
    sent = [row["id"] for row in orders if row["status"] not in _BEFORE_WAREHOUSE]
    writebacks: dict[int, list[WriteBackView]] = defaultdict(list)
    if sent:
        for entry_row in (
            OutboxEntry.objects.filter(
                order_id__in=sent,
                status=OutboxStatus.ACKNOWLEDGED,
                acknowledged_at__isnull=False,
            )
            .order_by("order_id", "acknowledged_at", "id")
            .values_list(
                "order_id", "id", "account__kind", "account__code", "action", "milestone",
                "acknowledged_at",
            )
        ):  # fmt: skip
            writebacks[entry_row[0]].append(
                WriteBackView(
                    entry_row[1], f"{entry_row[2]}:{entry_row[3]}", entry_row[4], entry_row[5],
                    entry_row[6],  # type: ignore[arg-type]  # filtered: not null
                )
            )  # fmt: skip
    views = {}
    for row in orders:
        order_id = row["id"]
        views[order_id] = OrderView(
            id=order_id,
            channel=row["channel"],
            external_id=row["external_id"],
            status=row["status"],
            order_type=row["order_type"],
            warehouse_code=row["warehouse__code"] or "",
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            ship_by=row["ship_by"],
            facts=tuple(facts[order_id]),
            tracking=tuple(tracking[order_id]),
            shortages=tuple(shortages[order_id]),
            lines=tuple(lines[order_id]),
            writebacks=tuple(writebacks[order_id]),
        )
    return views


# Orders whose stock may still be short (a shortage is recorded while the order is paid).
_BEFORE_WAREHOUSE = frozenset({Milestone.PLACED, Milestone.PAID, Milestone.STOCK_LOCKED})


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Every rule's switch and parameters as stored now (read afresh per evaluation)."""

    enabled: Mapping[str, bool]
    params: Mapping[str, Mapping[str, Any]]
    overrides: Mapping[tuple[str, str], Mapping[str, Any]]
    category_chapters: Mapping[str, list[str]]

    def is_enabled(self, kind: str) -> bool:
        return self.enabled.get(kind, True)

    def params_for(self, kind: str, channel: str) -> dict[str, Any]:
        """The rule's defaults, under its setting, under the channel's override (and the
        category → HS chapters mapping for ``customs_hs_code``)."""
        params = {
            **rules.get(kind).defaults,
            **self.params.get(kind, {}),
            **self.overrides.get((kind, channel), {}),
        }
        if kind == "customs_hs_code":
            params["category_chapters"] = self.category_chapters
        return params


_CONFIG_SQL = """
SELECT
  (SELECT coalesce(json_agg(json_build_array(kind, enabled, params)), '[]') FROM {settings}),
  (SELECT coalesce(json_agg(json_build_array(kind, channel, params)), '[]') FROM {overrides}),
  (SELECT coalesce(json_agg(json_build_array(category, chapters)), '[]') FROM {chapters})
"""


def rule_config_load() -> RuleConfig:
    """The stored settings, overrides and category chapters, read with one statement."""
    sql = _CONFIG_SQL.format(
        settings=RuleSetting._meta.db_table,
        overrides=RuleOverride._meta.db_table,
        chapters=CategoryChapters._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
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
