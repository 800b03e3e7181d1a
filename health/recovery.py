"""The order recovery cycle: how fast anomalies are found and closed, by channel, warehouse,
kind or day. Read-only; one SQL statement per call (PostgreSQL ``percentile_cont``), run with
``work_mem`` raised to ``HEALTH_RECOVERY_WORK_MEM`` (default 64MB) for its transaction so
its sorts stay in memory.

Per anomaly opened in ``[since, until)``: time to detect = ``opened_at - evidence_at``
(seconds, not below 0: a source clock ahead of ours is not a negative delay), time to resolve
= ``resolved_at - opened_at`` (resolved ones only). ``auto_within_2min_share``: the share of
the group's anomalies resolved ``auto`` within 120 s of opening. Per order: a recovery cycle
runs from its first open anomaly until none of the group's anomalies of the order is open
(overlapping anomalies make one cycle); ``cycle_p50_s`` / ``cycle_p90_s`` are over the
finished cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from health.models import Anomaly
from orderhub.models import Order, Warehouse

GROUPS: dict[str, str] = {
    "channel": "COALESCE(o.channel, an.subject_key)",
    "warehouse": "COALESCE(w.code, '')",
    "kind": "an.kind",
    "day": "to_char(an.opened_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD')",
}
AUTO_WITHIN_SECONDS = 120


@dataclass(frozen=True, slots=True)
class RecoveryRow:
    group: str
    anomalies: int
    orders: int
    detect_p50_s: float | None
    detect_p90_s: float | None
    resolve_p50_s: float | None
    resolve_p90_s: float | None
    auto_within_2min_share: float | None
    cycle_p50_s: float | None = None
    cycle_p90_s: float | None = None


_SQL = """
WITH a AS (
    SELECT an.id, an.order_id, an.opened_at, an.evidence_at, an.resolved_at, an.resolution,
           ({group}) COLLATE "C" AS grp
    FROM {anomaly} an
    LEFT JOIN {order} o ON o.id = an.order_id
    LEFT JOIN {warehouse} w ON w.id = o.warehouse_id
    WHERE an.opened_at >= %(since)s AND an.opened_at < %(until)s {scope}
),
ends AS (
    SELECT grp, order_id, id, opened_at, resolved_at,
           MAX(COALESCE(resolved_at, 'infinity'::timestamptz)) OVER (
               PARTITION BY grp, order_id ORDER BY opened_at, id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS previous_end
    FROM a WHERE order_id IS NOT NULL
),
islands AS (
    SELECT grp, order_id, opened_at, resolved_at,
           SUM(CASE WHEN previous_end IS NULL OR opened_at > previous_end THEN 1 ELSE 0 END)
               OVER (PARTITION BY grp, order_id ORDER BY opened_at, id) AS island
    FROM ends
),
cycles AS (
    SELECT grp,
           CASE WHEN bool_and(resolved_at IS NOT NULL)
                THEN EXTRACT(EPOCH FROM MAX(resolved_at) - MIN(opened_at))::float8 END AS seconds
    FROM islands GROUP BY grp, order_id, island
),
per_cycle AS (
    SELECT grp, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY seconds) AS cycle
    FROM cycles GROUP BY grp
),
per_anomaly AS (
    SELECT grp, COUNT(*) AS anomalies, COUNT(DISTINCT order_id) AS orders,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY detect) AS detect,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY resolve) AS resolve,
           AVG(CASE WHEN resolution = 'auto' AND resolve <= %(auto)s THEN 1.0 ELSE 0.0 END)
               ::float8 AS auto_share
    FROM (
        SELECT grp, order_id, resolution,
               GREATEST(EXTRACT(EPOCH FROM opened_at - evidence_at)::float8, 0) AS detect,
               EXTRACT(EPOCH FROM resolved_at - opened_at)::float8 AS resolve
        FROM a
    ) measured
    GROUP BY grp
)
SELECT p.grp, p.anomalies, p.orders, p.detect[1], p.detect[2], p.resolve[1],
       p.resolve[2], p.auto_share, c.cycle[1], c.cycle[2]
FROM per_anomaly p LEFT JOIN per_cycle c ON c.grp = p.grp
ORDER BY p.grp
"""


def recovery_cycle(
    *,
    since: datetime,
    until: datetime,
    group_by: str,
    warehouse_codes: Sequence[str] | None = None,
    warehouse_ids: Sequence[int] | None = None,
) -> list[RecoveryRow]:
    """The recovery figures of the anomalies opened in ``[since, until)``, one row per group
    (sorted by group). ``group_by``: ``channel``, ``warehouse`` (the order's; "" for none),
    ``kind`` or ``day`` (opening day in ``TIME_ZONE``, ``YYYY-MM-DD``). ``warehouse_codes``
    limits the anomalies to orders of those warehouses (a warehouse user's scope; an empty
    sequence gives nothing); ``warehouse_ids`` does the same by id (the board's scope).
    ``ValueError`` for an unknown ``group_by``."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}")
    params: dict[str, Any] = {
        "since": since,
        "until": until,
        "auto": AUTO_WITHIN_SECONDS,
        "tz": settings.TIME_ZONE,
    }
    scope = ""
    if warehouse_codes is not None:
        scope = "AND w.code = ANY(%(codes)s)"
        params["codes"] = list(warehouse_codes)
    if warehouse_ids is not None:
        scope += " AND o.warehouse_id = ANY(%(warehouse_ids)s)"
        params["warehouse_ids"] = list(warehouse_ids)
    sql = _SQL.format(
        group=GROUPS[group_by],
        anomaly=Anomaly._meta.db_table,
        order=Order._meta.db_table,
        warehouse=Warehouse._meta.db_table,
        scope=scope,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # The report sorts every anomaly of the window a few times: in memory, not on disk
        # (for this transaction only).
        cursor.execute("SELECT set_config('work_mem', %s, true)", [_work_mem()])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        RecoveryRow(
            group=str(grp),
            anomalies=int(anomalies),
            orders=int(orders),
            detect_p50_s=_float(d50),
            detect_p90_s=_float(d90),
            resolve_p50_s=_float(r50),
            resolve_p90_s=_float(r90),
            auto_within_2min_share=_float(share),
            cycle_p50_s=_float(c50),
            cycle_p90_s=_float(c90),
        )
        for grp, anomalies, orders, d50, d90, r50, r90, share, c50, c90 in rows
    ]


def _work_mem() -> str:
    return str(getattr(settings, "HEALTH_RECOVERY_WORK_MEM", "64MB"))


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
