"""customs_hs_code: cross-border lines against the WCO nomenclature and the category mapping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from health.models import Anomaly
from health.rules.customs import hs_subheading_valid
from health.services import category_chapters_set
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.models import Order, Product
from orderhub.services import order_upsert
from traceability.models import LedgerEvent


def cross_border(external_id: str, *skus: str, order_type: str = "cross_border") -> Order:
    from decimal import Decimal

    return order_upsert(
        normalized=NormalizedOrder(
            channel="shop-x", external_id=external_id, order_type=order_type,
            lines=tuple(
                NormalizedLine(line_no=n + 1, sku=sku, quantity=1, unit_price=Decimal("9.90"))
                for n, sku in enumerate(skus)
            ),
            facts=(StatusFactIn("shopify:shop-x", "paid", "paid",
                                timezone.now() - timedelta(minutes=5)),),
        ),
        source="test",
    )  # fmt: skip


def test_subheadings_come_from_the_wco_nomenclature() -> None:
    assert hs_subheading_valid("851713")  # smartphones
    assert not hs_subheading_valid("851799")
    assert not hs_subheading_valid("8517")


@pytest.mark.django_db
def test_a_bad_hs_code_and_a_chapter_that_does_not_fit_open_customs_hs_code() -> None:
    Product.objects.create(sku="PHONE", name="phone", category="electronics", hs_code="8517.13.00")
    Product.objects.create(sku="SHIRT", name="shirt", category="apparel", hs_code="851713")
    Product.objects.create(sku="BAD", name="bad", category="apparel", hs_code="123456")
    ops = User.objects.create_user("ops")
    category_chapters_set(category="apparel", chapters=["61", "62"], user=ops)
    order = cross_border("X1", "PHONE", "SHIRT", "BAD")
    anomaly = Anomaly.objects.get()
    assert (anomaly.kind, anomaly.order_id) == ("customs_hs_code", order.pk)
    assert anomaly.evidence == {
        "lines": [
            {"line_no": 2, "sku": "SHIRT", "hs_code": "851713", "category": "apparel",
             "reason": "chapter 85 does not fit category apparel"},
            {"line_no": 3, "sku": "BAD", "hs_code": "123456", "category": "apparel",
             "reason": "not a WCO subheading"},
        ]
    }  # fmt: skip
    assert LedgerEvent.objects.get(action="health.category_chapters_set").actor == "ops"


@pytest.mark.django_db
def test_valid_codes_and_domestic_orders_open_nothing() -> None:
    Product.objects.create(sku="SHIRT", name="shirt", category="apparel", hs_code="610910")
    Product.objects.create(sku="BAD", name="bad", category="apparel", hs_code="123456")
    cross_border("X2", "SHIRT")
    cross_border("X3", "BAD", order_type="normal")
    assert Anomaly.objects.count() == 0
