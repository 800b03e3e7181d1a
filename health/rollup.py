"""The daily roll-up of the health score's counts (``ScoreDaily``), so the board's trend reads
one row per (day, channel, warehouse) instead of aggregating a week of facts per view.

``score_daily_rollup(day=...)`` recomputes one past local day from the facts, orders and
feedback (four statements), replacing that day's rows in one transaction: idempotent, safe to
run again when late facts arrive. The sync window in force when it runs is the one counted.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from health.board_services import score_weights_get
from health.models import ScoreDaily, ScoreDailyRun
from health.score import _PANEL_PARTS, local_zone

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
