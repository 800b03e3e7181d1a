"""The health score on constructed data: exact component values and scores per channel,
per warehouse, per day and last hour, the editable weights, and the drill-down."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from health.board_services import FeedbackIn, feedback_record, score_weights_update
from health.models import Feedback, ScoreDaily, ScoreDailyRun, ScoreWeights
from health.rollup import score_daily_rollup, score_rollup_due
from health.score import (
    health_score,
    health_score_daily,
    health_score_trend,
    health_scores,
    health_scores_both,
    score_component_orders,
    window_for,
)
from orderhub.choices import TrackingStage
from orderhub.models import Order, StatusFact, TrackingEvent, Warehouse
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=SHANGHAI)


def fact(
    order: Order, key: str, received: datetime, lag_seconds: float, milestone: str = "paid"
) -> None:
    StatusFact.objects.create(
        order=order, system="wms:WH", raw_status="X", milestone=milestone,
        occurred_at=received - timedelta(seconds=lag_seconds), received_at=received,
        dedupe_key=key,
    )  # fmt: skip


def shipped(order: Order, at: datetime, *, number: str, event: bool) -> None:
    Order.objects.filter(pk=order.pk).update(shipped_at=at, tracking_number=number)
    if event:
        TrackingEvent.objects.create(
            order=order, system="kuaidi100:main", tracking_number=number, occurred_at=at,
            received_at=at, stage=TrackingStage.IN_TRANSIT, raw_state="0", dedupe_key=number,
        )  # fmt: skip


def feedback(order: Order, kind: str, key: str, at: datetime, rating: int | None = None) -> None:
    feedback_record(
        feedback=FeedbackIn(channel=order.channel, external_order_id=order.external_id,
                            kind=kind, external_id=key, occurred_at=at, rating=rating),
        source_system=f"{order.channel}:shop",
    )  # fmt: skip


@pytest.fixture
def data() -> dict[str, Any]:
    wh_a = WarehouseFactory.create(code="WH-A")
    wh_b = WarehouseFactory.create(code="WH-B")
    tmall = [OrderFactory.create(channel="tmall", warehouse=wh_a) for _ in range(5)]
    jd = OrderFactory.create(channel="jd", warehouse=wh_b)
    three_hours = NOW - timedelta(hours=3)
    # sync: 3 of 4 mirrored within 90 s today (one in the last hour); an unmapped one and
    # yesterday's late one do not count today.
    fact(tmall[0], "f1", NOW - timedelta(minutes=10), 10)
    fact(tmall[0], "f2", three_hours, 10)
    fact(tmall[1], "f3", three_hours, 90)
    fact(tmall[2], "f4", three_hours, 200)
    fact(tmall[3], "f5", three_hours, 500, milestone="")
    fact(tmall[4], "f6", NOW - timedelta(days=1), 500)
    fact(jd, "j1", three_hours, 5)
    fact(jd, "j2", three_hours, 5, milestone="delivered")
    # tracking: 2 of 4 shipped today complete (one has a number but no event, one neither)
    shipped(tmall[0], three_hours, number="SF1", event=True)
    shipped(tmall[1], three_hours, number="SF2", event=True)
    shipped(tmall[2], three_hours, number="SF3", event=False)
    shipped(tmall[3], three_hours, number="", event=False)
    # reviews: 4 of 5 positive today; yesterday's bad one is not today's
    for n, rating in enumerate([5, 4, 5, 4, 2]):
        feedback(tmall[n], "review", f"r{n}", three_hours, rating)
    feedback(tmall[4], "review", "r-old", NOW - timedelta(days=1), 1)
    # returns: 1 of 4 shipped
    feedback(tmall[3], "return", "ret1", three_hours)
    feedback(tmall[3], "complaint", "c1", three_hours)
    return {"tmall": tmall, "jd": jd, "wh_a": wh_a, "wh_b": wh_b}


def test_components_and_score_per_channel_today(data: dict[str, Any]) -> None:
    scores = health_score(NOW, "channel")
    assert sorted(scores) == ["jd", "tmall"]
    tmall = scores["tmall"]
    assert tmall.components == {
        "sync_timeliness": 0.75,
        "tracking_completeness": 0.5,
        "positive_reviews": 0.8,
        "no_returns": 0.75,
    }
    # 100 x (0.4 x 0.75 + 0.3 x 0.5 + 0.2 x 0.8 + 0.1 x 0.75)
    assert tmall.score == 68.5
    # jd has only sync facts: the one measured component carries the whole weight
    assert scores["jd"].components == {
        "sync_timeliness": 1.0, "tracking_completeness": None,
        "positive_reviews": None, "no_returns": None,
    }  # fmt: skip
    assert scores["jd"].score == 100.0


def test_daily_score_for_alerts_per_channel_and_per_warehouse(data: dict[str, Any]) -> None:
    assert health_score_daily(NOW, "channel") == {"jd": 100.0, "tmall": 68.5}
    assert health_score_daily(NOW, "warehouse") == {"WH-A": 68.5, "WH-B": 100.0}


def test_last_hour_counts_only_the_last_hour(data: dict[str, Any]) -> None:
    scores = health_score(NOW, "channel", window="hour")
    assert list(scores) == ["tmall"]
    assert scores["tmall"].components["sync_timeliness"] == 1.0
    assert scores["tmall"].components["tracking_completeness"] is None
    assert scores["tmall"].score == 100.0


def test_nothing_measured_means_no_score() -> None:
    assert health_score_daily(NOW, "channel") == {}
    OrderFactory.create(channel="tmall")
    assert health_score_daily(NOW, "channel") == {}


def test_a_warehouse_user_scope_counts_only_its_orders(data: dict[str, Any]) -> None:
    wh_b: Warehouse = data["wh_b"]
    scores = health_score(NOW, "channel", warehouse_ids=[wh_b.pk])
    assert {subject: value.score for subject, value in scores.items()} == {"jd": 100.0}


def test_trend_reads_past_days_from_the_rollup_and_today_live(
    data: dict[str, Any], django_assert_num_queries: Any
) -> None:
    # before any roll-up: only today, aggregated live
    with django_assert_num_queries(7):
        trend = health_score_trend(NOW, days=3)
    assert [day.isoformat() for day, _score in trend] == ["2026-06-13", "2026-06-14", "2026-06-15"]
    assert [score for _day, score in trend] == [None, None, 71.8]
    assert score_rollup_due(now=NOW, days=3) == [date(2026, 6, 14), date(2026, 6, 13)]
    assert score_daily_rollup(day=date(2026, 6, 14)) == 1
    assert score_daily_rollup(day=date(2026, 6, 13)) == 0
    assert score_daily_rollup(day=date(2026, 6, 14)) == 1  # again: replaced, not added
    row = ScoreDaily.objects.get()
    assert (row.channel, row.warehouse_id, row.sync_good, row.sync_total, row.reviews_good,
            row.reviews_total, row.tracking_total, row.returns) == (
        "tmall", data["wh_a"].pk, 0, 1, 0, 1, 0, 0)  # fmt: skip
    # today: sync 5/6 over both channels, tracking 0.5, reviews 0.8, returns 0.75
    # yesterday: one late fact (0) and one bad review (0)
    assert [score for _day, score in health_score_trend(NOW, days=3)] == [None, 0.0, 71.8]
    limited = health_score_trend(NOW, days=3, warehouse_ids=[data["wh_b"].pk])
    assert [score for _day, score in limited] == [None, None, 100.0]
    # yesterday is always due again (late facts); an earlier day once rolled up is not
    assert score_rollup_due(now=NOW, days=3) == [date(2026, 6, 14)]


def test_today_is_never_rolled_up() -> None:
    with pytest.raises(ValueError, match="not over yet"):
        score_daily_rollup(day=timezone.localdate())
    assert not ScoreDailyRun.objects.exists()


def test_weights_edited_with_history_and_ledger(data: dict[str, Any]) -> None:
    user = User.objects.create_user("analyst", is_staff=True)
    quarter = Decimal("0.25")
    score_weights_update(user=user, sync_timeliness=quarter, tracking_completeness=quarter,
                         positive_reviews=quarter, no_returns=quarter)  # fmt: skip
    assert health_score_daily(NOW, "channel")["tmall"] == 70.0
    row = ScoreWeights.objects.get()
    assert row.history.count() == 1
    assert row.history.get().history_user == user
    event = LedgerEvent.objects.get(action="health.score_weights_updated")
    assert event.actor == "analyst"
    assert event.before["sync_timeliness"] == "0.400"
    assert event.after["sync_timeliness"] == "0.25"


def test_weights_not_adding_up_to_one_are_refused_and_nothing_is_written() -> None:
    user = User.objects.create_user("analyst", is_staff=True)
    with pytest.raises(ValidationError):
        score_weights_update(user=user, sync_timeliness=Decimal("0.5"))
    assert ScoreWeights.objects.count() == 0
    assert not LedgerEvent.objects.filter(action="health.score_weights_updated").exists()


def test_four_statements_per_score_whatever_the_subjects(
    data: dict[str, Any], django_assert_num_queries: Any
) -> None:
    weights = ScoreWeights()
    span = window_for(NOW, "day")
    with django_assert_num_queries(4):
        health_scores(scope="warehouse", start=span.start, end=span.end, weights=weights)


def test_drill_down_lists_the_orders_behind_each_component(data: dict[str, Any]) -> None:
    tmall = data["tmall"]
    span = window_for(NOW, "day")

    def ids(component: str) -> tuple[list[int], int]:
        rows, count = score_component_orders(
            component=component, scope="channel", subject="tmall", start=span.start, end=span.end
        )
        return sorted(row["id"] for row in rows), count  # fmt: skip

    assert ids("sync_timeliness") == ([tmall[2].pk], 1)
    assert ids("tracking_completeness") == (sorted([tmall[2].pk, tmall[3].pk]), 2)
    assert ids("positive_reviews") == ([tmall[4].pk], 1)
    assert ids("no_returns") == ([tmall[3].pk], 1)
    rows, count = score_component_orders(
        component="sync_timeliness", scope="channel", subject="jd", start=span.start, end=span.end
    )
    assert (rows, count) == ([], 0)  # fmt: skip


def test_feedback_is_stored_once_with_the_buyers_province(data: dict[str, Any]) -> None:
    order = data["tmall"][0]
    before = LedgerEvent.objects.filter(action="health.feedback_received").count()
    feedback(order, "complaint", "c-x", NOW, None)
    feedback(order, "complaint", "c-x", NOW, None)
    row = Feedback.objects.get(external_id="c-x")
    assert (row.order_id, row.province, row.positive) == (order.pk, "浙江省", None)
    assert LedgerEvent.objects.filter(action="health.feedback_received").count() == before + 1
    with pytest.raises(ValidationError):
        feedback(order, "review", "bad-rating", NOW, 9)
    assert not Feedback.objects.filter(external_id="bad-rating").exists()


def test_a_review_without_a_verdict_takes_it_from_the_stars(data: dict[str, Any]) -> None:
    reviews = Feedback.objects.filter(kind="review", external_id__in=["r0", "r4"])
    assert list(reviews.order_by("external_id").values_list("positive", flat=True)) == [
        True,
        False,
    ]


def test_the_board_panels_five_statements_give_the_same_scores(
    data: dict[str, Any], django_assert_num_queries: Any
) -> None:
    weights = ScoreWeights()
    with django_assert_num_queries(5):
        both = health_scores_both(now=NOW, weights=weights)
    expected = {
        (scope, subject, window): value
        for scope in ("channel", "warehouse")
        for window in ("day", "hour")
        for subject, value in health_score(NOW, scope, window=window).items()
    }
    assert both == expected
    assert both[("warehouse", "WH-A", "day")].score == 68.5
    limited = health_scores_both(now=NOW, warehouse_ids=[data["wh_b"].pk], weights=weights)
    assert sorted(limited) == [("channel", "jd", "day"), ("warehouse", "WH-B", "day")]
