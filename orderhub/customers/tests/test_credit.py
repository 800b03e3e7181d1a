"""Credit scores on constructed histories, tiers, the admin's weights and preview, the fast
lane and the risk review."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from orderhub.choices import Milestone, Priority
from orderhub.customers.exceptions import CustomerActionError
from orderhub.customers.models import CreditPolicy, CustomerProfile, RiskReview
from orderhub.customers.services.confirmation import orders_ready_for_warehouse
from orderhub.customers.services.credit import customers_credit_refresh
from orderhub.customers.services.risk import risk_review_clear, risk_review_reject
from orderhub.domain import NormalizedOrder
from orderhub.models import Customer, Order
from orderhub.services import order_transition
from orderhub.services.orders import order_upsert
from tests.factories import CustomerFactory, OrderFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.get_fixed_timezone(480))


def history(customer: Customer, *rows: tuple[float | None, str]) -> None:
    """One order per row: (hours from placed to paid or None, final status), placed 10 days
    before NOW."""
    placed = NOW - timedelta(days=10)
    for hours, status in rows:
        order = OrderFactory.create(
            customer=customer,
            placed_at=placed,
            paid_at=None if hours is None else placed + timedelta(hours=hours),
        )
        Order.objects.filter(pk=order.pk).update(status=status)


def three_customers() -> tuple[Customer, Customer, Customer]:
    steady = CustomerFactory.create(name="steady")
    history(steady, *[(6, Milestone.DELIVERED)] * 3, (6, Milestone.RETURNED))
    loyal = CustomerFactory.create(name="loyal")
    history(loyal, *[(0, Milestone.DELIVERED)] * 12)
    risky = CustomerFactory.create(name="risky")
    history(risky, (48, Milestone.RETURNED))
    CustomerProfile.objects.create(customer=risky, abusive_returns=2)
    return steady, loyal, risky


def scores() -> dict[str, tuple[str, str]]:
    return {
        p.customer.name: (str(p.score), p.tier)
        for p in CustomerProfile.objects.select_related("customer")
    }


def test_scores_and_tiers_of_constructed_histories() -> None:
    three_customers()
    assert customers_credit_refresh(now=NOW) == 3
    # steady: punctuality 0.75, frequency 4/12, returns 0.75, abuse 1
    #   100 * (40*0.75 + 20*0.3333 + 20*0.75 + 20*1) / 100 = 71.666 → 71.67
    # loyal: every component 1 → 100.00; risky: 0, 1/12, 0, 1/3 → 8.33
    assert scores() == {
        "steady": ("71.67", "standard"),
        "loyal": ("100.00", "key_account"),
        "risky": ("8.33", "under_review"),
    }
    assert CustomerProfile.objects.get(customer__name="steady").components == {
        "punctuality": "0.7500", "frequency": "0.3333", "returns": "0.7500", "abuse": "1.0000",
    }  # fmt: skip
    # loyal and risky changed tier from the default "standard": one event each.
    assert LedgerEvent.objects.filter(action="customer.tier_changed").count() == 2
    customers_credit_refresh(now=NOW)
    assert LedgerEvent.objects.filter(action="customer.tier_changed").count() == 2


def policy_post(**overrides: str) -> dict[str, str]:
    values = {
        "weight_punctuality": "40", "weight_frequency": "20", "weight_returns": "20",
        "weight_abuse": "20", "key_account_min": "80", "standard_min": "50", "abuse_flag_at": "2",
    }  # fmt: skip
    return {**values, **overrides}


def test_admin_preview_counts_tier_changes_and_saving_a_weight_changes_the_outcome(
    admin_client: Client,
) -> None:
    three_customers()
    customers_credit_refresh(now=timezone.now())
    preview = admin_client.post(
        "/en/admin/customers/creditpolicy/preview/", policy_post(weight_frequency="0")
    )
    assert preview.status_code == 200
    assert "1 of 3 customers would change tier." in preview.content.decode()
    assert scores()["steady"][1] == "standard"  # nothing saved by the preview
    assert CreditPolicy.objects.get(pk=1).weight_frequency == Decimal("20.00")

    saved = admin_client.post(
        "/en/admin/customers/creditpolicy/1/change/", {**policy_post(weight_frequency="0"),
                                                       "_save": "Save"},
    )  # fmt: skip
    assert saved.status_code == 302
    # steady without frequency: 100 * (30 + 15 + 20) / 80 = 81.25 → key account
    assert scores()["steady"] == ("81.25", "key_account")
    policy = CreditPolicy.objects.get(pk=1)
    assert policy.weight_frequency == Decimal("0.00")
    latest = policy.history.latest()
    assert latest.history_user is not None
    assert (latest.history_user.username, latest.weight_frequency) == ("admin", Decimal("0.00"))
    event = LedgerEvent.objects.get(action="customer.credit_policy_saved")
    assert (event.before["weight_frequency"], event.after["weight_frequency"]) == ("20.00", "0")


def test_key_account_gets_the_fast_lane_when_paid() -> None:
    loyal = CustomerFactory.create(name="loyal")
    CustomerProfile.objects.create(customer=loyal, tier="key_account")
    paid_at = timezone.now().replace(microsecond=0)
    order = OrderFactory.create(customer=loyal, paid_at=paid_at)
    other = OrderFactory.create(paid_at=paid_at)
    order_transition(order_id=order.pk, target=Milestone.PAID)
    order_transition(order_id=other.pk, target=Milestone.PAID)
    order.refresh_from_db()
    other.refresh_from_db()
    assert (order.priority, order.ship_by) == (Priority.KEY_ACCOUNT, paid_at + timedelta(hours=4))
    assert (other.priority, other.ship_by) == (Priority.NORMAL, None)
    assert LedgerEvent.objects.filter(action="order.fast_lane").count() == 1


def test_flagged_customer_order_goes_to_risk_review_at_intake_and_is_decided() -> None:
    flagged = CustomerFactory.create(phone="13700001111")
    CustomerProfile.objects.create(customer=flagged, abusive_returns=2)
    CustomerProfile.objects.create(customer=CustomerFactory.create(phone="13700002222"),
                                   abusive_returns=1)  # fmt: skip
    first = order_upsert(normalized=NormalizedOrder(
        channel="shop", external_id="R-1", buyer_phone="13700001111"))  # fmt: skip
    second = order_upsert(normalized=NormalizedOrder(
        channel="shop", external_id="R-2", buyer_phone="13700001111"))  # fmt: skip
    order_upsert(normalized=NormalizedOrder(
        channel="shop", external_id="R-3", buyer_phone="13700002222"))  # fmt: skip
    assert sorted(RiskReview.objects.values_list("order__external_id", "status")) == [
        ("R-1", "open"), ("R-2", "open"),
    ]  # fmt: skip

    Order.objects.filter(pk__in=[first.pk, second.pk]).update(status=Milestone.STOCK_LOCKED)
    assert list(orders_ready_for_warehouse()) == []  # held while the review is open
    one = RiskReview.objects.get(order=first)
    with pytest.raises(CustomerActionError):
        risk_review_clear(review_id=one.pk, reason=" ", user=None, now=NOW)
    risk_review_clear(review_id=one.pk, reason="客户说明为送礼", user=None, now=NOW)
    two = RiskReview.objects.get(order=second)
    risk_review_reject(review_id=two.pk, reason="多次恶意退货", user=None, now=NOW)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Milestone.STOCK_LOCKED, Milestone.CANCELLED)
    assert list(orders_ready_for_warehouse()) == [first]
    assert list(
        LedgerEvent.objects.filter(action__startswith="order.risk_review_")
        .order_by("id")
        .values_list("action", "references")
    ) == [
        ("order.risk_review_opened", {}),
        ("order.risk_review_opened", {}),
        ("order.risk_review_cleared", {"reason": "客户说明为送礼"}),
        ("order.risk_review_rejected", {"reason": "多次恶意退货"}),
    ]
    with pytest.raises(CustomerActionError):
        risk_review_clear(review_id=two.pk, reason="改主意", user=None, now=NOW)


def test_risk_review_admin_decision(admin_client: Client, django_user_model: Any) -> None:
    flagged = CustomerFactory.create(phone="13700001111")
    CustomerProfile.objects.create(customer=flagged, abusive_returns=3)
    order = order_upsert(normalized=NormalizedOrder(
        channel="shop", external_id="R-9", buyer_phone="13700001111"))  # fmt: skip
    review = RiskReview.objects.get(order=order)
    answer = admin_client.post(
        f"/en/admin/customers/riskreview/{review.pk}/change/",
        {"decision": "cleared", "reason": "核实无误"},
    )
    assert answer.status_code == 302
    review.refresh_from_db()
    assert review.decided_by is not None
    assert (review.status, review.reason, review.decided_by.username) == (
        "cleared", "核实无误", "admin",
    )  # fmt: skip


def test_wechat_openid_is_set_in_the_admin_with_a_ledger_event(admin_client: Client) -> None:
    customer = CustomerFactory.create()
    profile = CustomerProfile.objects.create(customer=customer, score=Decimal("50.00"))
    answer = admin_client.post(
        f"/en/admin/customers/customerprofile/{profile.pk}/change/", {"wechat_openid": "oWx-9"}
    )
    assert answer.status_code == 302
    profile.refresh_from_db()
    assert (profile.wechat_openid, profile.score) == ("oWx-9", Decimal("50.00"))
    event = LedgerEvent.objects.get(action="customer.wechat_set")
    assert (event.before, event.after) == ({"wechat_openid": ""}, {"wechat_openid": "oWx-9"})
