"""The incremental fold of today's and the last hour's score counts: on constructed data the
folded score equals the from-scratch score exactly, also after orders change without a fact
(another warehouse, a tracking number removed), with facts and events not folded yet, and
the watermark never passes a fact younger than the lag."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Sum

from health.models import AnomalyRank, ScoreFoldMark, ScoreMinute, ScoreOrderFold
from health.rollup import score_fold
from health.score import health_scores_both
from health.tests.test_score import fact, shipped
from orderhub.choices import TrackingStage
from orderhub.models import Order, StatusFact, TrackingEvent
from tests.factories import OrderFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def ratios(scores: dict[Any, Any]) -> dict[tuple[str, str, str], dict[str, tuple[int, int]]]:
    return {key: {name: (r.good, r.total) for name, r in value.counts.items()}
            for key, value in scores.items()}  # fmt: skip


def both(now: datetime = NOW, **kwargs: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
    return (ratios(health_scores_both(now=now, **kwargs)),
            ratios(health_scores_both(now=now, fold=False, **kwargs)))  # fmt: skip


@pytest.fixture
def data() -> dict[str, Any]:
    wh_a, wh_b = WarehouseFactory.create(code="WH-A"), WarehouseFactory.create(code="WH-B")
    o1 = OrderFactory.create(channel="tmall", warehouse=wh_a)
    o2 = OrderFactory.create(channel="jd", warehouse=wh_b)
    o3 = OrderFactory.create(channel="tmall", warehouse=None)
    fact(o1, "f1", NOW - timedelta(minutes=50), 5)
    fact(o1, "f2", NOW - timedelta(minutes=30), 200)  # mirrored late
    fact(o1, "f4", NOW - timedelta(minutes=20), 5, milestone="")  # unmapped: not counted
    fact(o2, "f5", NOW - timedelta(minutes=90), 5)  # today, not the last hour
    fact(o2, "f6", NOW - timedelta(minutes=10), 5)
    fact(o3, "f7", NOW - timedelta(minutes=20), 300)
    fact(o2, "f8", NOW - timedelta(days=1), 5)  # yesterday
    shipped(o1, NOW - timedelta(minutes=40), number="SF1", event=True)
    shipped(o2, NOW - timedelta(minutes=80), number="SF2", event=False)
    return {"wh_a": wh_a, "wh_b": wh_b, "o1": o1, "o2": o2, "o3": o3}


EXPECTED = {
    ("channel", "jd", "day"): {"sync_timeliness": (2, 2), "tracking_completeness": (0, 1)},
    ("channel", "jd", "hour"): {"sync_timeliness": (1, 1)},
    ("channel", "tmall", "day"): {"sync_timeliness": (1, 3), "tracking_completeness": (1, 1)},
    ("channel", "tmall", "hour"): {"sync_timeliness": (1, 3), "tracking_completeness": (1, 1)},
    ("warehouse", "WH-A", "day"): {"sync_timeliness": (1, 2), "tracking_completeness": (1, 1)},
    ("warehouse", "WH-A", "hour"): {"sync_timeliness": (1, 2), "tracking_completeness": (1, 1)},
    ("warehouse", "WH-B", "day"): {"sync_timeliness": (2, 2), "tracking_completeness": (0, 1)},
    ("warehouse", "WH-B", "hour"): {"sync_timeliness": (1, 1)},
}


def test_the_folded_score_equals_the_score_from_scratch(data: dict[str, Any]) -> None:
    result = score_fold(now=NOW)
    top = StatusFact.objects.order_by("-id").values_list("id", flat=True).first()
    assert (result.fact_mark, result.moved, result.caught_up) == (top, 0, True)
    # the counters hold the folded facts (f4 unmapped is not counted; f8 is kept two days)
    assert ScoreMinute.objects.aggregate(good=Sum("sync_good"), total=Sum("sync_total")) == {
        "good": 4, "total": 6
    }  # fmt: skip
    assert ScoreOrderFold.objects.count() == 3
    folded, scratch = both()
    assert folded == scratch == EXPECTED
    # nothing folded again on a second pass; still equal
    assert score_fold(now=NOW).facts == 0
    assert both()[0] == EXPECTED

    # a fact and a courier event not folded yet (received within the lag) count at once
    fact(data["o1"], "f3", NOW - timedelta(seconds=30), 1)
    TrackingEvent.objects.create(
        order=data["o2"], system="kuaidi100:main", tracking_number="SF2",
        occurred_at=NOW - timedelta(seconds=20), received_at=NOW - timedelta(seconds=20),
        stage=TrackingStage.IN_TRANSIT, raw_state="0", dedupe_key="SF2-late",
    )  # fmt: skip
    folded, scratch = both()
    assert folded == scratch
    assert folded[("channel", "tmall", "hour")]["sync_timeliness"] == (2, 4)
    assert folded[("channel", "jd", "day")]["tracking_completeness"] == (1, 1)

    # orders changed without any new fact: o3 moves to WH-B, o1 loses its tracking number
    Order.objects.filter(pk=data["o3"].pk).update(warehouse=data["wh_b"])
    Order.objects.filter(pk=data["o1"].pk).update(tracking_number="")
    stale, scratch = both()
    assert stale != scratch  # the counters are as of the last pass...
    result = score_fold(now=NOW)
    assert result.moved == 1
    folded, scratch = both()
    assert folded == scratch  # ...and exact again after the next one
    assert folded[("warehouse", "WH-B", "day")]["sync_timeliness"] == (2, 3)
    assert folded[("channel", "tmall", "day")]["tracking_completeness"] == (0, 1)
    # a warehouse user's scope reads the same way
    limited, limited_scratch = both(warehouse_ids=[data["wh_b"].pk])
    assert limited == limited_scratch
    assert limited[("warehouse", "WH-B", "day")]["sync_timeliness"] == (2, 3)


def test_the_watermark_stops_before_a_fact_younger_than_the_lag(data: dict[str, Any]) -> None:
    young = StatusFact.objects.create(
        order=data["o1"], system="erp:main", raw_status="X", milestone="paid",
        occurred_at=NOW - timedelta(seconds=10), received_at=NOW - timedelta(seconds=10),
        dedupe_key="young",
    )  # fmt: skip
    older = StatusFact.objects.create(
        order=data["o1"], system="erp:main", raw_status="Y", milestone="paid",
        occurred_at=NOW - timedelta(minutes=5), received_at=NOW - timedelta(minutes=5),
        dedupe_key="older-but-later-id",
    )  # fmt: skip
    result = score_fold(now=NOW)
    assert result.fact_mark == young.pk - 1
    assert older.pk > result.fact_mark
    folded, scratch = both()
    assert folded == scratch
    assert folded[("channel", "tmall", "day")]["sync_timeliness"] == (3, 5)
    later = score_fold(now=NOW + timedelta(minutes=1))
    assert later.fact_mark == older.pk
    assert both(NOW + timedelta(minutes=1))[0] == both(NOW + timedelta(minutes=1))[1]


def test_a_new_sync_window_starts_the_counters_again(data: dict[str, Any]) -> None:
    from health.board_services import score_weights_update

    score_fold(now=NOW)
    score_weights_update(user=None, sync_window_seconds=250)
    # until the next pass the board computes from scratch (the counters used 90 s)
    folded, scratch = both()
    assert folded == scratch
    assert folded[("channel", "tmall", "day")]["sync_timeliness"] == (2, 3)
    score_fold(now=NOW)
    assert ScoreFoldMark.objects.get(source="statusfact").sync_window_seconds == 250
    assert ScoreMinute.objects.aggregate(good=Sum("sync_good"))["good"] == 5
    assert both()[0] == both()[1]


def test_the_ranking_inputs_follow_the_open_anomalies(data: dict[str, Any]) -> None:
    from health.models import Anomaly

    opened = Anomaly.objects.create(kind="sync_lag", order=data["o1"], subject_key="o1",
                                    opened_at=NOW, evidence_at=NOW)  # fmt: skip
    closed = Anomaly.objects.create(kind="sync_lag", order=data["o2"], subject_key="o2",
                                    opened_at=NOW, evidence_at=NOW, resolved_at=NOW)  # fmt: skip
    score_fold(now=NOW)
    rank = AnomalyRank.objects.get()
    assert (rank.anomaly_id, rank.total_amount, rank.priority, rank.warehouse_id) == (
        opened.pk, data["o1"].total_amount, data["o1"].priority, data["wh_a"].pk
    )  # fmt: skip
    assert closed.pk != rank.anomaly_id
    Anomaly.objects.filter(pk=opened.pk).update(resolved_at=NOW)
    score_fold(now=NOW)
    assert not AnomalyRank.objects.exists()


def test_backfill_command_folds_everything_and_says_how_far(
    data: dict[str, Any], capsys: Any
) -> None:
    call_command("score_rollup", "--backfill", "--days", "1", "--batch", "2")
    out = capsys.readouterr().out
    top = StatusFact.objects.order_by("-id").values_list("id", flat=True).first()
    assert f"folded up to fact {top}" in out
    assert not ScoreMinute.objects.exists()  # its facts are more than two days old
    assert ScoreFoldMark.objects.get(source="statusfact").last_id == top
