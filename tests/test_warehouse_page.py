"""The warehouse's staff page: its open offers, and a Claim button that wins or says who won."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.utils import translation

from orderhub.choices import Milestone
from orderhub.models import Allocation, Offer, Order
from orderhub.services import order_transition
from tests.factories import OrderFactory, OrderLineFactory, WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def default_language_after() -> Iterator[None]:
    """The pages here are asked for in English; later tests start in the default language."""
    yield
    translation.activate("zh-hans")


@pytest.fixture(autouse=True)
def signing_key(settings: Any) -> None:
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.ALLOCATION_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.ALLOCATION_PUBLIC_KEYS_RETIRED = ""


def _stock_locked(external_id: str) -> Order:
    order = OrderFactory.create(external_id=external_id)
    OrderLineFactory(order=order, line_no=1, sku="SKU-1", quantity=1)
    order_transition(order_id=order.pk, target=Milestone.PAID)
    order_transition(order_id=order.pk, target=Milestone.STOCK_LOCKED)
    return order


def _staff_client(django_user_model: Any, name: str, *warehouses: Any) -> Client:
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    for warehouse in warehouses:
        warehouse.staff.add(user)
    client = Client()
    client.force_login(user)
    return client


def test_claim_button_wins_the_order_and_the_other_warehouse_is_told_who_holds_it(
    django_user_model: Any,
) -> None:
    sh, gz = WarehouseFactory.create(code="WH-SH"), WarehouseFactory.create(code="WH-GZ")
    order = _stock_locked("DY-7001")
    shanghai = _staff_client(django_user_model, "wh-sh", sh)
    guangzhou = _staff_client(django_user_model, "wh-gz", gz)

    page = shanghai.get("/en/warehouses/WH-SH/offers/")
    assert page.status_code == 200
    assert page.content.decode().count(f'name="order" value="{order.pk}"') == 1

    won = shanghai.post("/en/warehouses/WH-SH/claims/", {"order": order.pk}, follow=True)
    assert [str(m) for m in won.context["messages"]] == [f"Order #{order.pk} is yours (wave 1)."]
    order.refresh_from_db()
    assert (order.status, order.warehouse_id) == (Milestone.WAREHOUSE_ACCEPTED, sh.pk)
    assert "DY-7001" not in won.content.decode()  # no longer offered

    taken = guangzhou.post("/en/warehouses/WH-GZ/claims/", {"order": order.pk}, follow=True)
    assert [str(m) for m in taken.context["messages"]] == [
        f"Order #{order.pk} was taken by warehouse WH-SH first."
    ]
    again = shanghai.post("/en/warehouses/WH-SH/claims/", {"order": order.pk}, follow=True)
    assert [str(m) for m in again.context["messages"]] == [f"Order #{order.pk} was already yours."]
    assert Allocation.objects.filter(order=order).count() == 1
    assert LedgerEvent.objects.filter(order_id=order.pk, action="allocation.claimed").count() == 1


def test_another_warehouses_page_and_claims_are_not_found_and_change_nothing(
    django_user_model: Any,
) -> None:
    sh, gz = WarehouseFactory.create(code="WH-SH"), WarehouseFactory.create(code="WH-GZ")
    order = _stock_locked("DY-7002")
    shanghai = _staff_client(django_user_model, "wh-sh", sh)
    offers_before = sorted(
        Offer.objects.filter(order=order).values_list("warehouse__code", "withdrawn_at")
    )

    assert shanghai.get("/en/warehouses/WH-GZ/offers/").status_code == 404
    assert shanghai.post("/en/warehouses/WH-GZ/claims/", {"order": order.pk}).status_code == 404
    assert shanghai.get("/en/warehouses/WH-NONE/offers/").status_code == 404
    assert shanghai.post("/en/warehouses/WH-SH/claims/", {"order": "x"}).status_code == 404
    assert shanghai.get("/en/warehouses/WH-SH/claims/").status_code == 405

    order.refresh_from_db()
    assert (order.status, order.warehouse_id) == (Milestone.STOCK_LOCKED, None)
    assert Allocation.objects.count() == 0
    assert (
        sorted(Offer.objects.filter(order=order).values_list("warehouse__code", "withdrawn_at"))
        == offers_before
    )
    assert _staff_client(django_user_model, "wh-gz", gz).get("/en/warehouses/").status_code == 302


def test_anonymous_visitor_is_sent_to_the_login() -> None:
    response = Client().get("/warehouses/")
    assert (response.status_code, response["Location"]) == (
        302,
        "/admin/login/?next=/warehouses/",
    )


def test_a_claim_for_an_order_not_offered_says_why_and_changes_nothing(
    django_user_model: Any,
) -> None:
    sh = WarehouseFactory.create(code="WH-SH")
    placed = OrderFactory.create(external_id="DY-7003")
    shanghai = _staff_client(django_user_model, "wh-sh", sh)
    answer = shanghai.post("/en/warehouses/WH-SH/claims/", {"order": placed.pk}, follow=True)
    assert [str(m) for m in answer.context["messages"]] == [
        f"Order #{placed.pk} cannot be claimed: order {placed.pk} is not offered to warehouse "
        "'WH-SH'"
    ]
    placed.refresh_from_db()
    assert (placed.status, placed.warehouse_id, Allocation.objects.count()) == (
        Milestone.PLACED,
        None,
        0,
    )
