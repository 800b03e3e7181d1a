"""Warehouse scope on every admin view, and no admin view that writes an order through a form.

The warehouse user here holds every permission of the order and ledger apps, so each refusal
comes from the scope, not from a missing permission.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orderhub.choices import Milestone
from orderhub.domain import StatusFactIn
from orderhub.models import Order, StatusFact, Warehouse
from orderhub.services import order_transition, status_fact_record
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

M = Milestone


def row(order: Order) -> dict[str, Any]:
    return Order.objects.filter(pk=order.pk).values().get()


def state(order: Order) -> tuple[dict[str, Any], int, int, int, list[dict[str, Any]]]:
    """Everything an admin view could change about an order."""
    return (
        row(order),
        Order.history.filter(id=order.pk).count(),
        LedgerEvent.objects.count(),
        Order.objects.count(),
        [dict(fact) for fact in StatusFact.objects.filter(order=order).values().order_by("id")],
    )


@pytest.fixture
def warehouses() -> tuple[Warehouse, Warehouse]:
    return WarehouseFactory.create(code="WH-SH"), WarehouseFactory.create(code="WH-GZ")


@pytest.fixture
def shanghai_client(warehouses: tuple[Warehouse, Warehouse]) -> Client:
    user = get_user_model().objects.create_user("wh-shanghai", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["orderhub", "traceability"])
    )
    warehouses[0].staff.add(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def orders(warehouses: tuple[Warehouse, Warehouse]) -> tuple[Order, Order]:
    shanghai, guangzhou = warehouses
    mine = OrderFactory.create(external_id="SH-ORDER-1", warehouse=shanghai, buyer_name="李雷")
    theirs = OrderFactory.create(
        external_id="GZ-ORDER-1", warehouse=guangzhou, buyer_name="韩梅梅",
        buyer_phone="13912345678", address="天河路 1 号",
    )  # fmt: skip
    for order in (mine, theirs):
        order_transition(order_id=order.pk, target=M.PAID, reason="paid")
        status_fact_record(
            order_id=order.pk,
            fact=StatusFactIn("wms:x", "ACCEPTED", "stock_locked", timezone.now()),
        )
    return mine, theirs


def _other_warehouse_requests(theirs: Order) -> list[tuple[str, str, dict[str, Any]]]:
    history_id = Order.history.filter(id=theirs.pk).latest("history_id").history_id
    change = reverse("admin:orderhub_order_change", args=[theirs.pk])
    form = {"buyer_name": "x", "warehouse": "", "total_amount": "0.01", "_save": "Save"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("get", change, {}),
        ("post", change, form),
        ("get", reverse("admin:orderhub_order_history", args=[theirs.pk]), {}),
        ("get", reverse("admin:orderhub_order_simple_history", args=[theirs.pk, history_id]), {}),
        (
            "post",
            reverse("admin:orderhub_order_simple_history", args=[theirs.pk, history_id]),
            form,
        ),
        ("get", reverse("admin:orderhub_order_delete", args=[theirs.pk]), {}),
        ("post", reverse("admin:orderhub_order_delete", args=[theirs.pk]), {"post": "yes"}),
    ]
    for target in (M.STOCK_LOCKED, M.CANCELLED):
        url = reverse("admin:orderhub_order_transition", args=[theirs.pk, target])
        requests.append(("post", url, {"reason": "try"}))
    action_data = {
        "warehouse": {"warehouse_code": "WH-SH", "reason": "mine now"},
        "tracking": {"carrier": "SF", "tracking_number": "SF1", "reason": "x"},
        "priority": {"priority": "3", "reason": "x"},
        "note": {"internal_note": "x"},
    }
    for action, data in action_data.items():
        url = reverse("admin:orderhub_order_action", args=[theirs.pk, action])
        requests.append(("post", url, data))
    fact = StatusFact.objects.filter(order=theirs).first()
    assert fact is not None
    requests.append(("get", reverse("admin:orderhub_statusfact_change", args=[fact.pk]), {}))
    requests.append(("post", reverse("admin:orderhub_statusfact_change", args=[fact.pk]), {}))
    event = LedgerEvent.objects.filter(order_id=theirs.pk).first()
    assert event is not None
    url = reverse("admin:traceability_ledgerevent_change", args=[event.pk])
    requests.append(("get", url, {}))
    return requests


@pytest.mark.django_db
def test_every_admin_url_of_another_warehouses_order_is_refused_and_changes_nothing(
    shanghai_client: Client, orders: tuple[Order, Order]
) -> None:
    _mine, theirs = orders
    before = state(theirs)
    for method, url, data in _other_warehouse_requests(theirs):
        response = getattr(shanghai_client, method)(url, data)
        assert response.status_code in (403, 404), (method, url, response.status_code)
        body = response.content.decode()
        assert "韩梅梅" not in body, (method, url)
        assert "13912345678" not in body, (method, url)
    assert state(theirs) == before
    assert theirs.warehouse is not None
    assert Order.objects.get(pk=theirs.pk).warehouse_id == theirs.warehouse.pk


@pytest.mark.django_db
def test_other_warehouse_is_404_and_delete_403_exactly(
    shanghai_client: Client, orders: tuple[Order, Order]
) -> None:
    _mine, theirs = orders
    history_id = Order.history.filter(id=theirs.pk).latest("history_id").history_id
    change = reverse("admin:orderhub_order_change", args=[theirs.pk])
    history_form = reverse("admin:orderhub_order_simple_history", args=[theirs.pk, history_id])
    history = reverse("admin:orderhub_order_history", args=[theirs.pk])
    delete = reverse("admin:orderhub_order_delete", args=[theirs.pk])
    assert [
        shanghai_client.get(change).status_code,
        shanghai_client.get(history).status_code,
        shanghai_client.get(history_form).status_code,
        shanghai_client.post(history_form, {}).status_code,
        shanghai_client.get(delete).status_code,  # nobody may delete an order
    ] == [404, 404, 404, 404, 403]


@pytest.mark.django_db
def test_lists_lookups_and_autocomplete_show_only_the_users_warehouse(
    shanghai_client: Client, orders: tuple[Order, Order], warehouses: tuple[Warehouse, Warehouse]
) -> None:
    mine, theirs = orders
    shanghai, guangzhou = warehouses
    pages = {
        "orders": reverse("admin:orderhub_order_changelist"),
        "popup": reverse("admin:orderhub_order_changelist") + "?_to_field=id&_popup=1",
        "facts": reverse("admin:orderhub_statusfact_changelist"),
        "ledger": reverse("admin:traceability_ledgerevent_changelist"),
        "warehouses": reverse("admin:orderhub_warehouse_changelist"),
        "customers": reverse("admin:orderhub_customer_changelist"),
    }
    for name, url in pages.items():
        response = shanghai_client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert "GZ-ORDER-1" not in html, name
        assert "WH-GZ" not in html, name
    listing = shanghai_client.get(pages["orders"]).content.decode()
    assert "SH-ORDER-1" in listing
    # The warehouse filter offers WH-SH only.
    assert f"warehouse__id__exact={shanghai.pk}" in listing
    assert f"warehouse__id__exact={guangzhou.pk}" not in listing
    assert "SH-ORDER-1" in shanghai_client.get(pages["popup"]).content.decode()

    autocomplete = reverse("admin:autocomplete")
    order_ids = {
        term: [
            item["id"]
            for item in shanghai_client.get(
                autocomplete,
                {"app_label": "orderhub", "model_name": "statusfact", "field_name": "order",
                 "term": term},
            ).json()["results"]
        ]
        for term in ("", "GZ-ORDER-1", str(theirs.pk))
    }  # fmt: skip
    assert order_ids == {"": [str(mine.pk)], "GZ-ORDER-1": [], str(theirs.pk): []}
    warehouse_ids = [
        item["id"]
        for item in shanghai_client.get(
            autocomplete,
            {"app_label": "orderhub", "model_name": "order", "field_name": "warehouse"},
        ).json()["results"]
    ]
    assert warehouse_ids == [str(shanghai.pk)]


@pytest.mark.django_db
def test_ledger_list_of_a_warehouse_user_holds_only_their_orders_events(
    shanghai_client: Client, orders: tuple[Order, Order]
) -> None:
    from traceability.admin import LedgerEventAdmin
    from traceability.models import LedgerEvent as Event

    mine, _theirs = orders
    request = shanghai_client.get(reverse("admin:index")).wsgi_request
    from django.contrib import admin as django_admin

    model_admin = LedgerEventAdmin(Event, django_admin.site)
    order_ids = set(model_admin.get_queryset(request).values_list("order_id", flat=True))
    assert order_ids == {mine.pk}


@pytest.mark.django_db
def test_own_order_form_and_history_form_write_nothing_for_anyone(
    shanghai_client: Client, admin_client: Client, orders: tuple[Order, Order]
) -> None:
    mine, theirs = orders
    for client, order in ((shanghai_client, mine), (admin_client, theirs)):
        before = state(order)
        history_id = Order.history.filter(id=order.pk).earliest("history_id").history_id
        history_form = reverse("admin:orderhub_order_simple_history", args=[order.pk, history_id])
        change = reverse("admin:orderhub_order_change", args=[order.pk])
        history_list = reverse("admin:orderhub_order_history", args=[order.pk])
        assert client.get(history_list).status_code == 200
        page = client.get(history_form)
        assert page.status_code == 200
        assert 'name="buyer_name"' not in page.content.decode()
        data = {"buyer_name": "x", "total_amount": "0.01", "_save": "Save"}
        assert client.post(history_form, data).status_code == 403
        assert client.post(change, data).status_code == 403
        delete = reverse("admin:orderhub_order_delete", args=[order.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        changelist = reverse("admin:orderhub_order_changelist")
        client.post(changelist, {"action": "delete_selected", "_selected_action": [order.pk]})
        assert state(order) == before


@pytest.mark.django_db
def test_order_page_is_read_only_with_no_save_or_delete(
    admin_client: Client, orders: tuple[Order, Order]
) -> None:
    mine, _theirs = orders
    html = admin_client.get(reverse("admin:orderhub_order_change", args=[mine.pk])).content
    page = html.decode()
    for field in ("buyer_name", "address", "total_amount", "placed_at", "warehouse", "channel"):
        assert f'name="{field}"' not in page, field
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert "deletelink" not in page
    changelist = admin_client.get(reverse("admin:orderhub_order_changelist")).content.decode()
    assert "delete_selected" not in changelist
    assert admin_client.get(reverse("admin:orderhub_order_add")).status_code == 403
