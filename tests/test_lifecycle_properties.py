"""Property tests of the lifecycle: whatever the order, duplication and interleaving of one
order's facts from several systems, the order ends in the same state, never moves backwards,
and records the same facts.

Facts here are on the forward path (placed ... delivered, awaiting_confirmation included) and
unmapped raw statuses; the terminal branches (cancelled, returned) are order-dependent on
purpose (a cancel after delivery is a conflict) and are covered by tests/test_facts.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderhub.choices import FORWARD_PATH, FORWARD_RANK
from orderhub.domain import StatusFactIn
from orderhub.models import Order, StatusFact
from orderhub.services import status_fact_record
from tests.factories import OrderFactory

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SYSTEMS = ("shopify:main", "wms:wms-sh", "erp:erp-k3", "courier:SF")
RANK = FORWARD_RANK

fact_strategy = st.builds(
    lambda system, milestone, minute: StatusFactIn(
        system=system,
        raw_status=f"{system.split(':')[0]}-{milestone}",
        milestone=milestone,
        occurred_at=T0 + timedelta(minutes=minute),
    ),
    st.sampled_from(SYSTEMS),
    st.sampled_from(FORWARD_PATH),
    st.integers(min_value=0, max_value=600),
)


def _stored(order: Order) -> set[tuple[str, str, datetime]]:
    return set(
        StatusFact.objects.filter(order=order).values_list("system", "raw_status", "occurred_at")
    )


def _apply(facts: list[StatusFactIn]) -> Order:
    order = OrderFactory.create()
    for fact in facts:
        status_fact_record(order_id=order.pk, fact=fact)
    return Order.objects.get(pk=order.pk)


@st.composite
def deliveries(draw: Any) -> tuple[list[StatusFactIn], list[StatusFactIn]]:
    """A set of distinct facts, and one arrival sequence of them: shuffled, some twice."""
    mapped = draw(st.lists(fact_strategy, min_size=1, max_size=8, unique_by=lambda f: f.dedupe_key))
    unmapped = draw(
        st.lists(
            st.builds(
                lambda system, minute: StatusFactIn(
                    system=system,
                    raw_status=f"UNKNOWN-{minute}",
                    milestone=None,
                    occurred_at=T0 + timedelta(minutes=minute),
                ),
                st.sampled_from(SYSTEMS),
                st.integers(min_value=0, max_value=600),
            ),
            max_size=2,
            unique_by=lambda f: f.dedupe_key,
        )
    )
    distinct = {fact.dedupe_key: fact for fact in [*mapped, *unmapped]}
    facts = list(distinct.values())
    repeats = draw(st.lists(st.sampled_from(facts), max_size=4))
    arrival = draw(st.permutations([*facts, *repeats]))
    return facts, list(arrival)


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(deliveries())
def test_any_arrival_order_converges_never_moves_back_and_keeps_the_same_facts(
    case: tuple[list[StatusFactIn], list[StatusFactIn]],
) -> None:
    facts, arrival = case
    in_time_order = sorted(facts, key=lambda fact: (fact.occurred_at, fact.system))
    reference = _apply(in_time_order)
    shuffled = _apply(arrival)

    furthest = max(
        (RANK[f.milestone] for f in facts if f.milestone is not None), default=RANK["placed"]
    )
    assert shuffled.status == reference.status == FORWARD_PATH[furthest]
    statuses = list(shuffled.history.order_by("history_id").values_list("status", flat=True))
    ranks = [RANK[status] for status in statuses]
    assert ranks == sorted(ranks), statuses
    assert _stored(shuffled) == _stored(reference)
    expected = {(f.system, f.raw_status, f.occurred_at) for f in facts}
    assert {row for row in _stored(shuffled) if row[0] in SYSTEMS} == expected
