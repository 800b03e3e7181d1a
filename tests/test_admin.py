"""The back office: transitions from the order page, permission checks, warehouse scoping."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from orderhub.choices import Milestone
from orderhub.models import Order
from orderhub.services import order_transition
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

M = Milestone


def staff(username: str, *codenames: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="orderhub", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_zh(admin_client: Client) -> Client:
    return admin_client


@pytest.mark.django_db
def test_order_page_offers_exactly_the_allowed_transitions(admin_client: Client) -> None:
    order = OrderFactory.create()
    order_transition(order_id=order.pk, target=M.PAID)
    url = reverse("admin:orderhub_order_change", args=[order.pk])
    html = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="stock_locked"' in html
    assert 'value="cancelled"' in html
    assert html.count('name="_transition"') == 2


@pytest.mark.django_db
def test_transition_button_moves_the_order_with_actor_in_history(admin_client: Client) -> None:
    order = OrderFactory.create()
    url = reverse("admin:orderhub_order_transition", args=[order.pk, M.PAID])
    response = admin_client.post(url)
    assert response.status_code == 302
    record = Order.objects.get(pk=order.pk).history.latest("history_id")
    assert (record.status, record.history_user.username) == (M.PAID, "admin")
    event = LedgerEvent.objects.filter(order_id=order.pk, action="order.transition").get()
    assert (event.actor, event.source_system, event.after) == ("admin", "admin", {"status": "paid"})


@pytest.mark.django_db
def test_forbidden_transition_by_post_changes_nothing(admin_client: Client) -> None:
    order = OrderFactory.create()
    url = reverse("admin:orderhub_order_transition", args=[order.pk, M.DELIVERED])
    response = admin_client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "cannot go from &#x27;placed&#x27; to &#x27;delivered&#x27;" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == M.PLACED
    assert Order.objects.get(pk=order.pk).history.count() == 1


@pytest.mark.django_db
def test_user_without_transition_permission_sees_no_buttons_and_cannot_post() -> None:
    client = staff("viewer", "view_order")
    order = OrderFactory.create()
    page = client.get(reverse("admin:orderhub_order_change", args=[order.pk]))
    assert page.status_code == 200
    assert 'name="_transition"' not in page.content.decode()
    response = client.post(reverse("admin:orderhub_order_transition", args=[order.pk, M.PAID]))
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == M.PLACED


@pytest.mark.django_db
def test_user_with_change_but_not_cancel_permission_is_refused_and_audited() -> None:
    client = staff("clerk", "view_order", "change_order", "transition_order")
    order = OrderFactory.create()
    html = client.get(reverse("admin:orderhub_order_change", args=[order.pk])).content.decode()
    assert 'value="paid"' in html
    assert 'value="cancelled"' not in html
    client.post(
        reverse("admin:orderhub_order_transition", args=[order.pk, M.CANCELLED]),
        {"reason": "buyer asked"},
    )
    assert Order.objects.get(pk=order.pk).status == M.PLACED
    denied = LedgerEvent.objects.get(order_id=order.pk, action="order.transition_denied")
    assert (denied.actor, denied.after) == ("clerk", {"requested": "cancelled"})


@pytest.mark.django_db
def test_warehouse_staff_see_only_their_warehouse_orders() -> None:
    shanghai, guangzhou = (
        WarehouseFactory.create(code="WH-SH"),
        WarehouseFactory.create(code="WH-GZ"),
    )
    mine = OrderFactory.create(external_id="MINE-1", warehouse=shanghai)
    theirs = OrderFactory.create(external_id="THEIRS-1", warehouse=guangzhou)
    client = staff("wh-sh", "view_order", "change_order")
    shanghai.staff.add(get_user_model().objects.get(username="wh-sh"))

    listing = client.get(reverse("admin:orderhub_order_changelist")).content.decode()
    assert "MINE-1" in listing
    assert "THEIRS-1" not in listing
    assert client.get(reverse("admin:orderhub_order_change", args=[mine.pk])).status_code == 200
    other = client.get(reverse("admin:orderhub_order_change", args=[theirs.pk]))
    assert other.status_code == 404
    response = client.post(reverse("admin:orderhub_order_transition", args=[theirs.pk, M.PAID]))
    assert response.status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == M.PLACED


@pytest.mark.django_db
@pytest.mark.parametrize("term", ["EXT-SEARCH-1", "SF1234567890", "4321", "shop-x:EXT-SEARCH-1"])
def test_search_finds_an_order_by_any_identifier(admin_client: Client, term: str) -> None:
    OrderFactory.create(
        channel="shop-x", external_id="EXT-SEARCH-1", tracking_number="SF1234567890",
        phone_tail="4321",
    )  # fmt: skip
    OrderFactory.create(external_id="EXT-OTHER-2", phone_tail="9999")
    listing = admin_client.get(reverse("admin:orderhub_order_changelist"), {"q": term})
    html = listing.content.decode()
    assert "EXT-SEARCH-1" in html
    assert "EXT-OTHER-2" not in html


@pytest.mark.django_db
def test_order_page_shows_every_system_side_by_side(admin_client: Client) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from orderhub.domain import StatusFactIn
    from orderhub.services import status_fact_record

    order = OrderFactory.create()
    at = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    status_fact_record(
        order_id=order.pk, fact=StatusFactIn("youzan:mall", "TRADE_PAID", "paid", at)
    )
    status_fact_record(order_id=order.pk, fact=StatusFactIn("erp:k3", "已审核", "stock_locked", at))
    html = admin_client.get(
        reverse("admin:orderhub_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    section = html[html.index('id="status-by-system"') :]
    assert section.index("erp:k3") < section.index("youzan:mall")
    assert "<code>TRADE_PAID</code>" in section
    assert "<code>已审核</code>" in section


@pytest.mark.django_db
def test_order_page_links_to_its_trace_and_pdf(admin_client: Client) -> None:
    order = OrderFactory.create()
    html = admin_client.get(
        reverse("admin:orderhub_order_change", args=[order.pk])
    ).content.decode()
    assert f'href="/trace/order/{order.pk}/"' in html
    assert f'href="/trace/order/{order.pk}/pdf/"' in html
