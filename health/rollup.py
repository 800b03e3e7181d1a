"""The daily roll-up of the health score's counts (``ScoreDaily``), so the board's trend reads
one row per (day, channel, warehouse) instead of aggregating a week of facts per view.

``score_daily_rollup(day=...)`` recomputes one past local day from the facts, orders and
feedback (four statements), replacing that day's rows in one transaction: idempotent, safe to
run again when late facts arrive. The sync window in force when it runs is the one counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from health.board_services import score_weights_get
from health.models import ScoreDaily, ScoreDailyRun, ScoreFoldMark, ScoreMinute, ScoreOrderFold
from health.score import _PANEL_PARTS, FACTS, TRACKING, fold_marks, local_zone

ROLLUP_DAYS = 7


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def rollup_component_sql(component: str) -> str:
    source, column, good, extra = _PANEL_PARTS[component]
    return (
        f"SELECT o.channel, o.warehouse_id, count(*) FILTER (WHERE {good}), count(*) "  # noqa: S608 - constant fragments
        f"FROM {source} WHERE {column} >= %(start)s AND {column} < %(end)s{extra} "
        "GROUP BY 1, 2"
    )


FIELDS = {
    "sync_timeliness": ("sync_good", "sync_total"),
    "tracking_completeness": ("tracking_good", "tracking_total"),
    "positive_reviews": ("reviews_good", "reviews_total"),
    "returns": (None, "returns"),
}


@transaction.atomic
def score_daily_rollup(*, day: date) -> int:
    """Replace ``day``'s roll-up rows with freshly computed counts; returns how many rows.
    ``day`` must be over (before today, local time): today is always aggregated live."""
    today = timezone.now().astimezone(local_zone()).date()
    if day >= today:
        raise ValueError(f"{day} is not over yet: only past days are rolled up")
    start, end = _day_bounds(day)
    weights = score_weights_get()
    params: dict[str, Any] = {
        "start": start, "end": end,
        "sync_window": timedelta(seconds=weights.sync_window_seconds),
    }  # fmt: skip
    rows: dict[tuple[str, int | None], dict[str, int]] = {}
    with connection.cursor() as cursor:
        for component, (good_field, total_field) in FIELDS.items():
            cursor.execute(rollup_component_sql(component), params)
            for channel, warehouse_id, good, total in cursor:
                counts = rows.setdefault((channel, warehouse_id), {})
                counts[total_field] = int(total)
                if good_field is not None:
                    counts[good_field] = int(good)
    ScoreDaily.objects.filter(day=day).delete()
    ScoreDaily.objects.bulk_create(
        ScoreDaily(day=day, channel=channel, warehouse_id=warehouse_id, **counts)
        for (channel, warehouse_id), counts in rows.items()
    )
    ScoreDailyRun.objects.update_or_create(day=day, defaults={"computed_at": timezone.now()})
    return len(rows)


def score_rollup_due(*, now: datetime, days: int = ROLLUP_DAYS) -> list[date]:
    """The past days the trend shows that still need rolling up: yesterday always (late facts
    keep arriving for it), and each earlier one of the last ``days`` never rolled up."""
    today = now.astimezone(local_zone()).date()
    wanted = [today - timedelta(days=n) for n in range(1, days)]
    done = set(ScoreDailyRun.objects.filter(day__in=wanted).values_list("day", flat=True))
    return [day for day in wanted if day == today - timedelta(days=1) or day not in done]


# --- the incremental fold of today's and the last hour's counts ------------------------------
# Every ~10 s (beat) ``score_fold`` reads the status facts and tracking events above its id
# watermarks and adds them to per-minute counters; the board then reads the counters plus the
# small unfolded tail. Nothing on the write path changes: no trigger, no extra statement.
#
# Only facts received before ``now - FOLD_LAG`` are folded, and only the unbroken run of ids
# up to the first younger one: a fact whose transaction commits after a higher id was folded
# would be skipped otherwise. (A fact transaction open longer than FOLD_LAG could still be
# missed; intake transactions last milliseconds.)
#
# The counters depend on one mutable order field, its warehouse, and the tracking component on
# the order's shipping fields. ``ScoreOrderFold`` keeps what each order looked like when it
# was folded; every pass compares it with the order for the orders of the new facts and events
# and for every order seen in the window the board reads, and moves the folded counts of an
# order whose warehouse changed. The folded score therefore equals the from-scratch score as
# of the last pass.
FOLD_LAG = timedelta(seconds=60)
FOLD_BATCH = 200_000
FOLD_KEEP = timedelta(days=2)
ANOMALIES = "anomaly"

_NEXT_MARK_SQL = """
WITH batch AS (
    SELECT id, received_at FROM {table} WHERE id > %(mark)s ORDER BY id LIMIT %(batch)s
)
SELECT COALESCE((SELECT min(id) - 1 FROM batch WHERE received_at >= %(cutoff)s),
                (SELECT max(id) FROM batch), %(mark)s)
"""

_TOUCHED = """
    SELECT order_id FROM orderhub_statusfact WHERE id > %(fact_mark)s AND id <= %(fact_next)s
    UNION
    SELECT order_id FROM orderhub_trackingevent
    WHERE id > %(track_mark)s AND id <= %(track_next)s AND order_id IS NOT NULL
"""

_LAST_SEEN = """
    SELECT order_id, max(received_at) AS at FROM (
        SELECT order_id, received_at FROM orderhub_statusfact
        WHERE id > %(fact_mark)s AND id <= %(fact_next)s
        UNION ALL
        SELECT order_id, received_at FROM orderhub_trackingevent
        WHERE id > %(track_mark)s AND id <= %(track_next)s AND order_id IS NOT NULL
    ) seen GROUP BY order_id
"""

_STATE_INSERT_SQL = f"""
INSERT INTO health_scoreorderfold (order_id, channel, warehouse_id, shipped_at,
    has_tracking_number, has_tracking_event, last_seen_at)
SELECT o.id, o.channel, o.warehouse_id, o.shipped_at, o.tracking_number <> '',
       EXISTS (SELECT 1 FROM orderhub_trackingevent t WHERE t.order_id = o.id
               AND t.id <= %(track_next)s),
       seen.at
FROM ({_LAST_SEEN}) seen JOIN orderhub_order o ON o.id = seen.order_id
ON CONFLICT (order_id) DO NOTHING
"""  # noqa: S608 - constant fragments

# The orders of this batch and the recent ones whose fold state differs from the order now,
# with the warehouse their folded facts are counted under and the order's (one read, index
# look-ups of the recent state rows' orders); then only those rows are updated.
_STATE_CHANGED_SQL = f"""
WITH seen AS ({_LAST_SEEN}),
events AS (
    SELECT DISTINCT order_id FROM orderhub_trackingevent
    WHERE id > %(track_mark)s AND id <= %(track_next)s AND order_id IS NOT NULL
),
s AS MATERIALIZED (
    SELECT * FROM health_scoreorderfold WHERE order_id IN (SELECT order_id FROM seen)
    UNION
    SELECT * FROM health_scoreorderfold WHERE last_seen_at >= %(reconcile_since)s
    UNION
    SELECT * FROM health_scoreorderfold WHERE shipped_at >= %(reconcile_since)s
)
SELECT s.order_id, s.warehouse_id, o.warehouse_id
FROM s
JOIN orderhub_order o ON o.id = s.order_id
LEFT JOIN seen ON seen.order_id = s.order_id
LEFT JOIN events e ON e.order_id = s.order_id
WHERE s.warehouse_id IS DISTINCT FROM o.warehouse_id
   OR s.shipped_at IS DISTINCT FROM o.shipped_at
   OR s.has_tracking_number <> (o.tracking_number <> '')
   OR seen.at > s.last_seen_at
   OR (NOT s.has_tracking_event AND (e.order_id IS NOT NULL OR (
       o.tracking_number <> '' AND EXISTS (SELECT 1 FROM orderhub_trackingevent t
           WHERE t.order_id = o.id AND t.id <= %(track_next)s))))
"""  # noqa: S608 - constant fragments

_STATE_UPDATE_SQL = f"""
WITH seen AS ({_LAST_SEEN})
UPDATE health_scoreorderfold s SET
    warehouse_id = o.warehouse_id,
    shipped_at = o.shipped_at,
    has_tracking_number = o.tracking_number <> '',
    has_tracking_event = s.has_tracking_event OR EXISTS (
        SELECT 1 FROM orderhub_trackingevent t WHERE t.order_id = o.id
        AND t.id <= %(track_next)s),
    last_seen_at = GREATEST(s.last_seen_at, seen.at)
FROM orderhub_order o LEFT JOIN seen ON seen.order_id = o.id
WHERE o.id = s.order_id AND s.order_id = ANY(%(changed)s)
"""  # noqa: S608 - constant fragments

_GOOD = "(f.received_at - f.occurred_at <= %(sync_window)s)::int"
_ADD_SQL = """
INSERT INTO health_scoreminute (minute, channel, warehouse_id, sync_good, sync_total)
{select}
ON CONFLICT (minute, channel, warehouse_id) DO UPDATE SET
    sync_good = health_scoreminute.sync_good + EXCLUDED.sync_good,
    sync_total = health_scoreminute.sync_total + EXCLUDED.sync_total
"""

# The facts of this batch, counted under the warehouse the fold state holds for their order.
_FOLD_SELECT = f"""
SELECT date_trunc('minute', f.received_at), s.channel, s.warehouse_id,
       sum({_GOOD}), count(*)
FROM orderhub_statusfact f JOIN health_scoreorderfold s ON s.order_id = f.order_id
WHERE f.id > %(fact_mark)s AND f.id <= %(fact_next)s AND f.milestone <> ''
  AND f.received_at >= %(keep_since)s
GROUP BY 1, 2, 3
"""  # noqa: S608 - constant fragments

# The facts folded earlier of the orders whose warehouse changed: out of the old, into the new.
_MOVE_SELECT = f"""
SELECT date_trunc('minute', f.received_at), s.channel, m.warehouse_id,
       sum(m.sign * {_GOOD}), sum(m.sign)
FROM (SELECT unnest(%(moved)s::bigint[]) AS order_id, unnest(%(moved_from)s::bigint[]) AS
             warehouse_id, -1 AS sign
      UNION ALL
      SELECT unnest(%(moved)s::bigint[]), unnest(%(moved_to)s::bigint[]), 1) m
JOIN health_scoreorderfold s ON s.order_id = m.order_id
JOIN orderhub_statusfact f ON f.order_id = m.order_id
WHERE f.id <= %(fact_mark)s AND f.milestone <> '' AND f.received_at >= %(keep_since)s
GROUP BY 1, 2, 3
"""  # noqa: S608 - constant fragments

# The ranking inputs: dropped for anomalies resolved since, copied for the ones opened since
# and refreshed for the orders of this batch (value, tier and warehouse change with a fact).
_RANK_SQL = (
    "DELETE FROM health_anomalyrank r USING health_anomaly a "
    "WHERE a.id = r.anomaly_id AND a.resolved_at IS NOT NULL",
    "INSERT INTO health_anomalyrank (anomaly_id, total_amount, priority, warehouse_id) "
    "SELECT a.id, o.total_amount, o.priority, o.warehouse_id FROM health_anomaly a "
    "JOIN orderhub_order o ON o.id = a.order_id WHERE a.resolved_at IS NULL AND NOT EXISTS "
    "(SELECT 1 FROM health_anomalyrank r WHERE r.anomaly_id = a.id)",
    f"UPDATE health_anomalyrank r SET total_amount = o.total_amount, priority = o.priority, "  # noqa: S608 - constant fragments
    "warehouse_id = o.warehouse_id FROM health_anomaly a, orderhub_order o "
    f"WHERE a.id = r.anomaly_id AND o.id = a.order_id AND a.order_id IN ({_TOUCHED}) "
    "AND (r.total_amount, r.priority, r.warehouse_id) IS DISTINCT FROM "
    "(o.total_amount, o.priority, o.warehouse_id)",
)


@dataclass(frozen=True, slots=True)
class FoldResult:
    facts: int  # facts folded (ids passed over) in this pass
    events: int  # tracking events passed over
    moved: int  # orders whose earlier folded facts moved to another warehouse
    fact_mark: int
    caught_up: bool  # nothing older than the lag is left above the watermark


def _mark(source: str) -> ScoreFoldMark:
    mark, _created = ScoreFoldMark.objects.get_or_create(source=source)
    return ScoreFoldMark.objects.select_for_update().get(pk=mark.pk)


def _next_mark(cursor: Any, table: str, mark: int, cutoff: datetime, batch: int) -> int:
    cursor.execute(_NEXT_MARK_SQL.format(table=table),
                   {"mark": mark, "cutoff": cutoff, "batch": batch})  # fmt: skip
    return int(cursor.fetchone()[0])


def fold_reconcile_since(now: datetime) -> datetime:
    """Orders seen (or shipped) since this are compared with their order every pass: the
    start of yesterday, local time (today's window and the last hour lie after it)."""
    local = now.astimezone(local_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


@transaction.atomic
def score_fold(*, now: datetime | None = None, batch: int = FOLD_BATCH) -> FoldResult:
    """One fold pass (the beat's, every ~10 s; ``score_rollup --backfill`` loops it). Folds
    at most ``batch`` facts and ``batch`` tracking events above the watermarks, reconciles
    the recent orders, refreshes the ranking inputs of the open anomalies and drops counters
    older than ``FOLD_KEEP``. Overlapping passes wait for each other (the marks are locked).
    A change of the sync window starts the counters again from the first fact."""
    now = now or timezone.now()
    cutoff = now - FOLD_LAG
    weights = score_weights_get()
    facts, tracking = _mark(FACTS), _mark(TRACKING)
    if facts.sync_window_seconds != weights.sync_window_seconds:
        ScoreMinute.objects.all().delete()
        ScoreOrderFold.objects.all().delete()
        facts.last_id = tracking.last_id = 0
        facts.sync_window_seconds = weights.sync_window_seconds
    with connection.cursor() as cursor:
        fact_next = _next_mark(cursor, "orderhub_statusfact", facts.last_id, cutoff, batch)
        track_next = _next_mark(cursor, "orderhub_trackingevent", tracking.last_id, cutoff, batch)
        params: dict[str, Any] = {
            "fact_mark": facts.last_id, "fact_next": fact_next,
            "track_mark": tracking.last_id, "track_next": track_next,
            "reconcile_since": fold_reconcile_since(now), "keep_since": now - FOLD_KEEP,
            "sync_window": timedelta(seconds=weights.sync_window_seconds),
        }  # fmt: skip
        cursor.execute(_STATE_INSERT_SQL, params)
        # A day's orders (tens of thousands) are looked up by primary key; the planner would
        # hash all the orders instead, ten times slower: joins by index for this statement.
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(_STATE_CHANGED_SQL, params)
        changed = cursor.fetchall()
        cursor.execute("RESET enable_hashjoin")
        cursor.execute("RESET enable_mergejoin")
        if changed:
            cursor.execute(_STATE_UPDATE_SQL, {**params, "changed": [row[0] for row in changed]})
        moved = [(order_id, old, new) for order_id, old, new in changed if old != new]
        if moved:
            cursor.execute(
                _ADD_SQL.format(select=_MOVE_SELECT),
                {**params, "moved": [row[0] for row in moved],
                 "moved_from": [row[1] for row in moved], "moved_to": [row[2] for row in moved]},
            )  # fmt: skip
        if fact_next > facts.last_id:
            cursor.execute(_ADD_SQL.format(select=_FOLD_SELECT), params)
        for statement in _RANK_SQL:
            cursor.execute(statement, params)
        cursor.execute("DELETE FROM health_scoreminute WHERE minute < %s", [now - FOLD_KEEP])
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM orderhub_statusfact WHERE id > %s AND received_at < %s)",
            [fact_next, cutoff],
        )
        behind = bool(cursor.fetchone()[0])
    result = FoldResult(fact_next - facts.last_id, track_next - tracking.last_id, len(moved),
                        fact_next, not behind)  # fmt: skip
    for mark, last_id in ((facts, fact_next), (tracking, track_next)):
        mark.last_id, mark.cutoff, mark.folded_at = last_id, cutoff, now
        mark.save()
    return result


def score_fold_backfill(
    *, batch: int = FOLD_BATCH, progress: Callable[[FoldResult], None] | None = None
) -> FoldResult:
    """Fold passes until the watermark has caught up (the first run on an existing database,
    or after the sync window changed); ``progress`` is called after each pass."""
    while True:
        result = score_fold(batch=batch)
        if progress is not None:
            progress(result)
        if result.caught_up or (result.facts == 0 and result.events == 0):
            return result


def fold_remaining() -> int:
    """Roughly how many facts lie above the watermark (for a progress bar). One statement."""
    fact_mark, _track, _window, _cutoff = fold_marks()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM orderhub_statusfact")
        top = int(cursor.fetchone()[0])
    return max(top - fact_mark, 0)
