"""The order health score, per channel or warehouse, per day or for the last hour (0-100).

    score = 100 x (w1 x sync timeliness + w2 x tracking completeness
                   + w3 x positive review rate + w4 x (1 - return rate))

with the weights of ``ScoreWeights`` (defaults 0.4 / 0.3 / 0.2 / 0.1). The components, over a
window [start, end):

- sync timeliness: of the status changes systems reported (status facts with a milestone,
  received in the window), the share OrderHub had within ``sync_window_seconds`` (90) of the
  source's own clock (``received_at - occurred_at``), i.e. mirrored across systems in time;
- tracking completeness: of the orders handed to a courier in the window (``shipped_at``),
  the share with a tracking number and at least one courier tracking event;
- positive review rate: of the reviews in the window with a verdict, the share positive;
- return rate: returns reported in the window / orders handed over in the window (at most 1).

A component with nothing to measure in the window (no facts, no shipped orders, no reviews,
neither returns nor shipments) is left out and the others' weights are scaled up to 1; with
nothing at all the score is ``None``. One statement per component, whatever the number of
subjects or days. Selectors only: nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Sum

from health.board_services import WEIGHT_FIELDS, score_weights_get
from health.models import ScoreDaily, ScoreFoldMark, ScoreWeights

SCOPES = ("channel", "warehouse", "all")
COMPONENTS = ("sync_timeliness", "tracking_completeness", "positive_reviews", "no_returns")
WINDOWS = ("day", "hour")


@dataclass(frozen=True, slots=True)
class Ratio:
    """``good`` of ``total`` (for returns: ``good`` is the returns, see ``value``)."""

    good: int
    total: int


@dataclass(frozen=True, slots=True)
class SubjectScore:
    """One subject's score and its components (each 0..1 or ``None`` when unmeasured)."""

    subject: str
    score: float | None
    components: dict[str, float | None]
    counts: dict[str, Ratio] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def window_for(now: datetime, window: str) -> Window:
    """``day``: the local calendar day up to ``now``; ``hour``: from the start of the minute
    an hour before ``now`` up to it (whole minutes, as the fold counts them)."""
    if window == "hour":
        return Window((now - timedelta(hours=1)).replace(second=0, microsecond=0), now)
    if window != "day":
        raise ValueError(f"unknown window {window!r}")
    local = now.astimezone(local_zone())
    return Window(local.replace(hour=0, minute=0, second=0, microsecond=0), now)


def _subject_sql(scope: str) -> str:
    if scope == "channel":
        return "o.channel"
    if scope == "warehouse":
        return "w.code"
    if scope == "all":
        return "'all'"
    raise ValueError(f"unknown scope {scope!r}")


def _bucket_sql(column: str, by_day: bool) -> str:
    # The local calendar day of the event; one bucket when not grouped by day.
    return f"(({column}) AT TIME ZONE %(tz)s)::date" if by_day else "NULL::date"


def _scope_filter(scope: str, warehouse_ids: Sequence[int] | None) -> str:
    parts = []
    if scope == "warehouse":
        parts.append("o.warehouse_id IS NOT NULL")
    if warehouse_ids is not None:
        parts.append("o.warehouse_id = ANY(%(warehouse_ids)s)")
    return "".join(f" AND {part}" for part in parts)


def component_sql(component: str, scope: str, *, by_day: bool, scoped: bool) -> str:
    """The one statement of a component: rows (subject, day, good, total)."""
    subject = _subject_sql(scope)
    where = _scope_filter(scope, [] if scoped else None)
    join_w = " LEFT JOIN orderhub_warehouse w ON w.id = o.warehouse_id"
    if component == "sync_timeliness":
        bucket = _bucket_sql("f.received_at", by_day)
        return (
            f"SELECT {subject}, {bucket}, "  # noqa: S608 - constant fragments
            "count(*) FILTER (WHERE f.received_at - f.occurred_at <= %(sync_window)s), count(*) "
            "FROM orderhub_statusfact f JOIN orderhub_order o ON o.id = f.order_id"
            f"{join_w} WHERE f.received_at >= %(start)s AND f.received_at < %(end)s "
            f"AND f.milestone <> ''{where} GROUP BY 1, 2"
        )
    if component == "tracking_completeness":
        bucket = _bucket_sql("o.shipped_at", by_day)
        good = (
            "count(*) FILTER (WHERE o.tracking_number <> '' AND EXISTS ("
            "SELECT 1 FROM orderhub_trackingevent t WHERE t.order_id = o.id))"
        )
        return (
            f"SELECT {subject}, {bucket}, {good}, count(*) FROM orderhub_order o{join_w} "  # noqa: S608 - constant fragments
            f"WHERE o.shipped_at >= %(start)s AND o.shipped_at < %(end)s{where} GROUP BY 1, 2"
        )
    if component in ("positive_reviews", "returns"):
        bucket = _bucket_sql("fb.occurred_at", by_day)
        if component == "positive_reviews":
            counts = "count(*) FILTER (WHERE fb.positive), count(*)"
            kind = "fb.kind = 'review' AND fb.positive IS NOT NULL"
        else:
            counts = "count(*), count(*)"
            kind = "fb.kind = 'return'"
        return (
            f"SELECT {subject}, {bucket}, {counts} FROM health_feedback fb "  # noqa: S608 - constant fragments
            f"JOIN orderhub_order o ON o.id = fb.order_id{join_w} "
            f"WHERE {kind} AND fb.occurred_at >= %(start)s "
            f"AND fb.occurred_at < %(end)s{where} GROUP BY 1, 2"
        )
    raise ValueError(f"unknown component {component!r}")


Key = tuple[str, date | None]


def _run(sql: str, params: dict[str, Any]) -> dict[Key, Ratio]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(str(row[0]), row[1]): Ratio(int(row[2]), int(row[3])) for row in cursor}


def combine(components: dict[str, float | None], weights: ScoreWeights) -> float | None:
    """The weighted score 0-100 (one decimal) over the measured components."""
    measured = [(Decimal(getattr(weights, name)), Decimal(str(value)))
                for name, value in components.items() if value is not None]  # fmt: skip
    weight_sum = sum((weight for weight, _value in measured), Decimal(0))
    if not measured or weight_sum == 0:
        return None
    total = sum((weight * value for weight, value in measured), Decimal(0))
    return float(round(total / weight_sum * 100, 1))


def _components(counts: dict[str, Ratio]) -> dict[str, float | None]:
    sync = counts.get("sync_timeliness")
    tracking = counts.get("tracking_completeness")
    reviews = counts.get("positive_reviews")
    returns = counts.get("returns")
    shipped = tracking.total if tracking is not None else 0
    returned = returns.total if returns is not None else 0
    no_returns: float | None = None
    if shipped:
        no_returns = 1 - min(returned / shipped, 1.0)
    elif returned:
        no_returns = 0.0
    return {
        "sync_timeliness": sync.good / sync.total if sync and sync.total else None,
        "tracking_completeness": tracking.good / tracking.total
        if tracking and tracking.total
        else None,
        "positive_reviews": reviews.good / reviews.total if reviews and reviews.total else None,
        "no_returns": no_returns,
    }


def health_scores(
    *,
    scope: str,
    start: datetime,
    end: datetime,
    by_day: bool = False,
    warehouse_ids: Sequence[int] | None = None,
    weights: ScoreWeights | None = None,
) -> dict[Key, SubjectScore]:
    """Scores of every subject of ``scope`` with data in [start, end), keyed by (subject,
    local day or ``None``). Four statements (plus one for the weights when not given).
    ``warehouse_ids`` limits the orders counted (a warehouse user's scope)."""
    weights = weights if weights is not None else score_weights_get()
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "tz": settings.TIME_ZONE,
        "sync_window": timedelta(seconds=weights.sync_window_seconds),
        "warehouse_ids": list(warehouse_ids) if warehouse_ids is not None else None,
    }
    scoped = warehouse_ids is not None
    results: dict[str, dict[Key, Ratio]] = {
        name: _run(component_sql(name, scope, by_day=by_day, scoped=scoped), params)
        for name in ("sync_timeliness", "tracking_completeness", "positive_reviews", "returns")
    }
    keys = sorted({key for rows in results.values() for key in rows},
                  key=lambda key: (key[0], key[1] or date.min))  # fmt: skip
    scores: dict[Key, SubjectScore] = {}
    for key in keys:
        counts = {name: rows[key] for name, rows in results.items() if key in rows}
        components = _components(counts)
        scores[key] = SubjectScore(key[0], combine(components, weights), components, counts)
    return scores


def health_score(
    now: datetime, scope: str, *, window: str = "day", warehouse_ids: Sequence[int] | None = None
) -> dict[str, SubjectScore]:
    """Per-subject scores of the current day (or last hour) up to ``now``."""
    span = window_for(now, window)
    scores = health_scores(scope=scope, start=span.start, end=span.end,
                           warehouse_ids=warehouse_ids)  # fmt: skip
    return {key[0]: value for key, value in scores.items()}


def health_score_daily(now: datetime, scope: str) -> dict[str, float | None]:
    """The daily score (0-100) of each channel or warehouse today up to ``now``: the metric
    the alert rules read (``daily health below 85``)."""
    return {subject: value.score for subject, value in health_score(now, scope).items()}


def health_score_trend(
    now: datetime, *, days: int = 7, warehouse_ids: Sequence[int] | None = None
) -> list[tuple[date, float | None]]:
    """The overall score of each of the last ``days`` local days (today included): past days
    from the daily roll-up (``ScoreDaily``; a day not rolled up yet has ``None``), today
    aggregated live (from the fold when it is current). Seven statements (weights, roll-up,
    the fold's watermarks, today's four)."""
    weights = score_weights_get()
    today_start = window_for(now, "day").start
    today = today_start.date()
    first = today - timedelta(days=days - 1)
    rolled = ScoreDaily.objects.filter(day__gte=first, day__lt=today)
    if warehouse_ids is not None:
        rolled = rolled.filter(warehouse_id__in=list(warehouse_ids))
    sums = rolled.values("day").annotate(
        sync_good=Sum("sync_good"), sync_total=Sum("sync_total"),
        tracking_good=Sum("tracking_good"), tracking_total=Sum("tracking_total"),
        reviews_good=Sum("reviews_good"), reviews_total=Sum("reviews_total"),
        returns=Sum("returns"),
    ).order_by()  # fmt: skip
    by_day: dict[date, float | None] = {}
    for row in sums:
        counts = {
            "sync_timeliness": Ratio(row["sync_good"], row["sync_total"]),
            "tracking_completeness": Ratio(row["tracking_good"], row["tracking_total"]),
            "positive_reviews": Ratio(row["reviews_good"], row["reviews_total"]),
            "returns": Ratio(row["returns"], row["returns"]),
        }
        by_day[row["day"]] = combine(_components(counts), weights)
    live = _both_windows(now=now, warehouse_ids=warehouse_ids, weights=weights, overall=True)
    if ("all", "all", "day") in live:
        by_day[today] = combine(_components(live[("all", "all", "day")]), weights)
    return [(first + timedelta(days=n), by_day.get(first + timedelta(days=n)))
            for n in range(days)]  # fmt: skip


DRILL_LIMIT = 200


def score_component_orders(
    *,
    component: str,
    scope: str,
    subject: str,
    start: datetime,
    end: datetime,
    warehouse_ids: Sequence[int] | None = None,
    limit: int = DRILL_LIMIT,
) -> tuple[list[dict[str, Any]], int]:
    """The orders behind a component that pulled the score down, at most ``limit`` of them
    (newest first), and how many there are: status changes mirrored late, shipped orders
    without tracking, negative reviews, returns. One statement for the rows, one count."""
    weights = score_weights_get()
    subject_column = _subject_sql(scope)
    params: dict[str, Any] = {
        "start": start, "end": end, "subject": subject, "limit": limit,
        "sync_window": timedelta(seconds=weights.sync_window_seconds),
        "warehouse_ids": list(warehouse_ids) if warehouse_ids is not None else None,
    }  # fmt: skip
    where = _scope_filter(scope, [] if warehouse_ids is not None else None)
    where += f" AND {subject_column} = %(subject)s" if scope != "all" else ""
    base = (
        "FROM orderhub_order o LEFT JOIN orderhub_warehouse w ON w.id = o.warehouse_id "
        "WHERE {condition}" + where
    )
    conditions = {
        "sync_timeliness": (
            "EXISTS (SELECT 1 FROM orderhub_statusfact f WHERE f.order_id = o.id "
            "AND f.milestone <> '' AND f.received_at >= %(start)s AND f.received_at < %(end)s "
            "AND f.received_at - f.occurred_at > %(sync_window)s)"
        ),
        "tracking_completeness": (
            "o.shipped_at >= %(start)s AND o.shipped_at < %(end)s AND (o.tracking_number = '' "
            "OR NOT EXISTS (SELECT 1 FROM orderhub_trackingevent t WHERE t.order_id = o.id))"
        ),
        "positive_reviews": (
            "EXISTS (SELECT 1 FROM health_feedback fb WHERE fb.order_id = o.id "
            "AND fb.kind = 'review' AND fb.positive = false "
            "AND fb.occurred_at >= %(start)s AND fb.occurred_at < %(end)s)"
        ),
        "no_returns": (
            "EXISTS (SELECT 1 FROM health_feedback fb WHERE fb.order_id = o.id "
            "AND fb.kind = 'return' AND fb.occurred_at >= %(start)s AND fb.occurred_at < %(end)s)"
        ),
    }
    if component not in conditions:
        raise ValueError(f"unknown component {component!r}")
    body = base.format(condition=conditions[component])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id, o.channel, o.external_id, o.status, o.total_amount, o.tracking_number, "
            f"o.province, w.code {body} ORDER BY o.id DESC LIMIT %(limit)s",
            params,
        )
        columns = ["id", "channel", "external_id", "status", "total_amount", "tracking_number",
                   "province", "warehouse"]  # fmt: skip
        rows = [dict(zip(columns, row, strict=True)) for row in cursor]
        cursor.execute(f"SELECT count(*) {body}", params)
        count_row = cursor.fetchone()
    return rows, int(count_row[0]) if count_row else 0


assert set(COMPONENTS) == set(WEIGHT_FIELDS)


# --- both scopes and both windows at once (the board's scores panel) -------------------------
_PANEL_PARTS: dict[str, tuple[str, str, str, str]] = {
    # component: (FROM ..., time column, "good" condition, extra WHERE)
    "sync_timeliness": (
        "orderhub_statusfact f JOIN orderhub_order o ON o.id = f.order_id",
        "f.received_at",
        "f.received_at - f.occurred_at <= %(sync_window)s",
        " AND f.milestone <> ''",
    ),
    "tracking_completeness": (
        "orderhub_order o",
        "o.shipped_at",
        "o.tracking_number <> '' AND EXISTS (SELECT 1 FROM orderhub_trackingevent t "
        "WHERE t.order_id = o.id)",
        "",
    ),
    "positive_reviews": (
        "health_feedback fb JOIN orderhub_order o ON o.id = fb.order_id",
        "fb.occurred_at",
        "fb.positive",
        " AND fb.kind = 'review' AND fb.positive IS NOT NULL",
    ),
    "returns": (
        "health_feedback fb JOIN orderhub_order o ON o.id = fb.order_id",
        "fb.occurred_at",
        "true",
        " AND fb.kind = 'return'",
    ),
}


def panel_component_sql(component: str, *, scoped: bool) -> str:
    """One statement for a component over both windows and both scopes: rows (is_channel,
    subject, day good, day total, hour good, hour total), grouped by channel and by
    warehouse with GROUPING SETS."""
    source, column, good, extra = _PANEL_PARTS[component]
    where = " AND o.warehouse_id = ANY(%(warehouse_ids)s)" if scoped else ""
    day = f"{column} >= %(day_start)s"
    hour = f"{column} >= %(hour_start)s"
    return (
        "SELECT GROUPING(o.channel) = 0, COALESCE(o.channel, w.code), "  # noqa: S608 - constant fragments
        f"count(*) FILTER (WHERE {day} AND {good}), count(*) FILTER (WHERE {day}), "
        f"count(*) FILTER (WHERE {hour} AND {good}), count(*) FILTER (WHERE {hour}) "
        f"FROM {source} LEFT JOIN orderhub_warehouse w ON w.id = o.warehouse_id "
        f"WHERE {column} >= LEAST(%(day_start)s, %(hour_start)s) AND {column} < %(end)s"
        f"{extra}{where} GROUP BY GROUPING SETS ((o.channel), (w.code))"
    )


def health_scores_both(
    *,
    now: datetime,
    warehouse_ids: Sequence[int] | None = None,
    weights: ScoreWeights | None = None,
    fold: bool = True,
) -> dict[tuple[str, str, str], SubjectScore]:
    """Every channel's and warehouse's score today and in the last hour, keyed by (scope,
    subject, window): the same values as ``health_score`` for each, in five statements (the
    fold's watermarks, then one per component; sync timeliness and tracking completeness read
    the fold's counters plus its unfolded tail when the fold is current; ``fold=False``: from
    scratch)."""
    weights = weights if weights is not None else score_weights_get()
    counts = _both_windows(
        now=now, warehouse_ids=warehouse_ids, weights=weights, overall=False, fold=fold
    )
    scores = {}
    for key in sorted(counts):
        components = _components(counts[key])
        scores[key] = SubjectScore(key[1], combine(components, weights), components, counts[key])
    return scores


# --- the same from the fold (``health.rollup.score_fold``) plus the unfolded tail ------------
_TAIL_ORDERS = (
    "SELECT order_id FROM orderhub_statusfact WHERE id > %(fact_mark)s UNION "
    "SELECT order_id FROM orderhub_trackingevent WHERE id > %(track_mark)s "
    "AND order_id IS NOT NULL"
)
_FOLD_SOURCES: dict[str, str] = {
    # rows (channel, warehouse_id, t, good, total) of the component
    "sync_timeliness": (
        "SELECT m.channel, m.warehouse_id, m.minute AS t, m.sync_good AS good, "
        "m.sync_total AS total FROM health_scoreminute m "
        "WHERE m.minute >= %(since)s AND m.minute < %(end)s "
        "UNION ALL SELECT o.channel, o.warehouse_id, f.received_at, "
        "(f.received_at - f.occurred_at <= %(sync_window)s)::int, 1 "
        "FROM orderhub_statusfact f JOIN orderhub_order o ON o.id = f.order_id "
        "WHERE f.id > %(fact_mark)s AND f.received_at >= %(since)s AND f.received_at < %(end)s "
        "AND f.milestone <> ''"
    ),
    "tracking_completeness": (
        "SELECT s.channel, s.warehouse_id, s.shipped_at AS t, "  # noqa: S608 - constant fragments
        "(s.has_tracking_number AND s.has_tracking_event)::int AS good, 1 AS total "
        "FROM health_scoreorderfold s WHERE s.shipped_at >= %(since)s AND s.shipped_at < %(end)s "
        f"AND s.order_id NOT IN ({_TAIL_ORDERS}) "
        "UNION ALL SELECT o.channel, o.warehouse_id, o.shipped_at, (o.tracking_number <> '' "
        "AND EXISTS (SELECT 1 FROM orderhub_trackingevent t WHERE t.order_id = o.id))::int, 1 "
        f"FROM orderhub_order o WHERE o.id IN ({_TAIL_ORDERS}) "
        "AND o.shipped_at >= %(since)s AND o.shipped_at < %(end)s"
    ),
}


def fold_component_sql(component: str, *, scoped: bool, overall: bool) -> str:
    """The folded twin of ``panel_component_sql`` for sync timeliness and tracking
    completeness: the same rows (is_channel, subject, day good, day total, hour good, hour
    total) from the fold's counters plus the facts and orders it has not folded yet.
    ``overall``: one row for everything in scope (subject ``all``) instead of the subjects."""
    where = " WHERE x.warehouse_id = ANY(%(warehouse_ids)s)" if scoped else ""
    day, hour = "x.t >= %(day_start)s", "x.t >= %(hour_start)s"
    sums = (
        f"COALESCE(sum(x.good) FILTER (WHERE {day}), 0), "
        f"COALESCE(sum(x.total) FILTER (WHERE {day}), 0), "
        f"COALESCE(sum(x.good) FILTER (WHERE {hour}), 0), "
        f"COALESCE(sum(x.total) FILTER (WHERE {hour}), 0)"
    )
    source = _FOLD_SOURCES[component]
    if overall:
        return f"SELECT false, 'all', {sums} FROM ({source}) x{where}"  # noqa: S608 - constant fragments
    return (
        f"SELECT GROUPING(x.channel) = 0, COALESCE(x.channel, w.code), {sums} "  # noqa: S608 - constant fragments
        f"FROM ({source}) x LEFT JOIN orderhub_warehouse w ON w.id = x.warehouse_id{where} "
        "GROUP BY GROUPING SETS ((x.channel), (w.code))"
    )


# The fold's watermark sources (``ScoreFoldMark.source``), kept by ``health.rollup``.
FACTS, TRACKING = "statusfact", "trackingevent"


def fold_marks() -> tuple[int, int, int | None, datetime | None]:
    """(facts watermark, tracking events watermark, the sync window they were folded with,
    the cutoff of the last pass): what the board's reads add the unfolded tail to. One
    statement."""
    rows = {row.source: row for row in ScoreFoldMark.objects.filter(source__in=[FACTS, TRACKING])}
    facts, tracking = rows.get(FACTS), rows.get(TRACKING)
    if facts is None or tracking is None:
        return 0, 0, None, None
    return facts.last_id, tracking.last_id, facts.sync_window_seconds, facts.cutoff


def _fold_usable(now: datetime, weights: ScoreWeights) -> tuple[int, int] | None:
    """The fold's watermarks when its counters may be read at ``now`` (they were made with
    the sync window in force, and no folded fact is younger than ``now``), else ``None``:
    then the board aggregates from scratch. One statement."""
    fact_mark, track_mark, sync_window, cutoff = fold_marks()
    if cutoff is None or sync_window != weights.sync_window_seconds or cutoff > now:
        return None
    return fact_mark, track_mark


def _both_windows(
    *,
    now: datetime,
    warehouse_ids: Sequence[int] | None,
    weights: ScoreWeights,
    overall: bool,
    fold: bool = True,
) -> dict[tuple[str, str, str], dict[str, Ratio]]:
    day_start, hour_start = window_for(now, "day").start, window_for(now, "hour").start
    params: dict[str, Any] = {
        "day_start": day_start,
        "hour_start": hour_start,
        "since": min(day_start, hour_start),
        "end": now,
        "sync_window": timedelta(seconds=weights.sync_window_seconds),
        "warehouse_ids": list(warehouse_ids) if warehouse_ids is not None else None,
    }
    scoped = warehouse_ids is not None
    marks = _fold_usable(now, weights) if fold else None
    if marks is not None:
        params["fact_mark"], params["track_mark"] = marks
    counts: dict[tuple[str, str, str], dict[str, Ratio]] = {}
    with connection.cursor() as cursor:
        for name in _PANEL_PARTS:
            if marks is not None and name in _FOLD_SOURCES:
                sql = fold_component_sql(name, scoped=scoped, overall=overall)
            elif overall:
                sql = (
                    panel_component_sql(name, scoped=scoped)
                    .replace(
                        "SELECT GROUPING(o.channel) = 0, COALESCE(o.channel, w.code), ",
                        "SELECT false, 'all', ",
                    )
                    .replace(" GROUP BY GROUPING SETS ((o.channel), (w.code))", "")
                )
            else:
                sql = panel_component_sql(name, scoped=scoped)
            cursor.execute(sql, params)
            for is_channel, subject, day_good, day_total, hour_good, hour_total in cursor:
                if subject is None:  # orders without a warehouse, in the warehouse set
                    continue
                scope = "all" if overall else "channel" if is_channel else "warehouse"
                day_ratio = Ratio(int(day_good), int(day_total))
                hour_ratio = Ratio(int(hour_good), int(hour_total))
                for window, ratio in (("day", day_ratio), ("hour", hour_ratio)):
                    if ratio.total:
                        counts.setdefault((scope, str(subject), window), {})[name] = ratio
    return counts
