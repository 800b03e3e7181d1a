"""The explicit order actions: one service each, one ledger event each, nothing on a repeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from health.models import RuleSetting
from orderhub.choices import Milestone, Priority
from orderhub.exceptions import (
    OrderActionError,
    OrderActionPermissionError,
    OrderNotFoundError,
    OrderPermissionError,
)
from orderhub.models import Order, Warehouse
from orderhub.services import (
    order_cancel,
    order_note_set,
    order_priority_set,
    order_tracking_set,
    order_warehouse_assign,
)
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

M = Milestone
SHANGHAI = ZoneInfo("Asia/Shanghai")


def user_with(username: str, *codenames: str, warehouse: Warehouse | None = None) -> Any:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="orderhub", codename__in=codenames)
    )
    if warehouse is not None:
        warehouse.staff.add(user)
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def events(order: Order) -> list[tuple[str, str, str, Any, Any, Any]]:
    return [
        (e.action, e.actor, e.source_system, e.before, e.after, e.references)
        for e in LedgerEvent.objects.filter(order_id=order.pk).order_by("id")
    ]


def history(order: Order) -> list[tuple[Any, ...]]:
    return [
        (
            h.history_type,
            h.history_user.username if h.history_user else None,
            h.history_change_reason,
        )
        for h in Order.history.filter(id=order.pk).order_by("history_id")
    ]


def row(order: Order) -> dict[str, Any]:
    return Order.objects.filter(pk=order.pk).values().get()


@pytest.fixture
def shanghai() -> Warehouse:
    return WarehouseFactory.create(code="WH-SH")


@pytest.fixture
def guangzhou() -> Warehouse:
    return WarehouseFactory.create(code="WH-GZ")


@pytest.fixture
def boss() -> Any:
    return get_user_model().objects.create_superuser("boss", password="pw")


# --- warehouse ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_warehouse_assign_writes_history_and_one_event_then_nothing_on_repeat(
    shanghai: Warehouse, guangzhou: Warehouse, boss: Any
) -> None:
    order = OrderFactory.create()
    order_warehouse_assign(order_id=order.pk, warehouse_code="WH-SH", user=boss, reason="closest")
    order_warehouse_assign(order_id=order.pk, warehouse_code="WH-SH", user=boss, reason="again")
    order_warehouse_assign(order_id=order.pk, warehouse_code="WH-GZ", user=boss, reason="stock")
    assert Order.objects.get(pk=order.pk).warehouse_id == guangzhou.pk
    assert events(order) == [
        ("order.warehouse_assigned", "boss", "admin", {"warehouse": ""},
         {"warehouse": "WH-SH"}, {"reason": "closest"}),
        ("order.warehouse_assigned", "boss", "admin", {"warehouse": "WH-SH"},
         {"warehouse": "WH-GZ"}, {"reason": "stock"}),
    ]  # fmt: skip
    assert history(order) == [("+", None, None), ("~", "boss", "closest"), ("~", "boss", "stock")]
    records = Order.history.filter(id=order.pk).order_by("history_id")
    assert [r.warehouse_id for r in records] == [None, shanghai.pk, guangzhou.pk]


@pytest.mark.django_db
def test_warehouse_assign_without_user_names_the_source(shanghai: Warehouse) -> None:
    order = OrderFactory.create()
    order_warehouse_assign(order_id=order.pk, warehouse_code="WH-SH", source="demo")
    assert events(order) == [
        ("order.warehouse_assigned", "demo", "demo", {"warehouse": ""}, {"warehouse": "WH-SH"},
         {"reason": ""}),
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "message"),
    [("WH-NOPE", "unknown warehouse 'WH-NOPE'"), ("WH-OLD", "warehouse 'WH-OLD' is not active")],
)
def test_warehouse_assign_refuses_unknown_or_inactive_warehouse(
    boss: Any, code: str, message: str
) -> None:
    WarehouseFactory.create(code="WH-OLD", is_active=False)
    order = OrderFactory.create()
    before = row(order)
    with pytest.raises(OrderActionError, match=message):
        order_warehouse_assign(order_id=order.pk, warehouse_code=code, user=boss)
    assert (row(order), events(order), len(history(order))) == (before, [], 1)


@pytest.mark.django_db
def test_warehouse_user_cannot_move_an_order_out_of_their_warehouses(
    shanghai: Warehouse, guangzhou: Warehouse
) -> None:
    clerk = user_with("wh-sh", "view_order", "assign_warehouse", warehouse=shanghai)
    mine = OrderFactory.create(warehouse=shanghai)
    theirs = OrderFactory.create(warehouse=guangzhou)
    before = (row(mine), row(theirs))
    with pytest.raises(OrderActionPermissionError, match="only assign orders to their own"):
        order_warehouse_assign(order_id=mine.pk, warehouse_code="WH-GZ", user=clerk)
    with pytest.raises(OrderActionPermissionError, match="only assign orders to their own"):
        order_warehouse_assign(order_id=mine.pk, warehouse_code="", user=clerk)
    with pytest.raises(OrderNotFoundError):
        order_warehouse_assign(order_id=theirs.pk, warehouse_code="WH-SH", user=clerk)
    assert (row(mine), row(theirs)) == before
    assert events(mine) == events(theirs) == []


@pytest.mark.django_db
def test_action_without_its_permission_is_refused(shanghai: Warehouse) -> None:
    viewer = user_with("viewer", "view_order", "change_order")
    order = OrderFactory.create()
    before = row(order)
    calls = [
        lambda: order_warehouse_assign(order_id=order.pk, warehouse_code="WH-SH", user=viewer),
        lambda: order_tracking_set(
            order_id=order.pk, carrier="SF", tracking_number="SF1", user=viewer
        ),
        lambda: order_priority_set(order_id=order.pk, priority=Priority.HIGH, user=viewer),
        lambda: order_note_set(order_id=order.pk, note="x", user=viewer),
    ]
    for call in calls:
        with pytest.raises(OrderActionPermissionError):
            call()
    assert (row(order), events(order), len(history(order))) == (before, [], 1)


# --- tracking, priority, note --------------------------------------------------------------


@pytest.mark.django_db
def test_tracking_set_records_carrier_and_number_before_and_after(boss: Any) -> None:
    order = OrderFactory.create()
    order_tracking_set(
        order_id=order.pk, carrier=" SF ", tracking_number="SF100 ", user=boss, reason="label"
    )
    order_tracking_set(order_id=order.pk, carrier="SF", tracking_number="SF100", user=boss)
    order_tracking_set(order_id=order.pk, carrier="SF", tracking_number="SF200", user=boss)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.carrier, stored.tracking_number) == ("SF", "SF200")
    assert events(order) == [
        ("order.tracking_set", "boss", "admin", {"carrier": "", "tracking_number": ""},
         {"carrier": "SF", "tracking_number": "SF100"}, {"reason": "label"}),
        ("order.tracking_set", "boss", "admin", {"carrier": "SF", "tracking_number": "SF100"},
         {"carrier": "SF", "tracking_number": "SF200"}, {"reason": ""}),
    ]  # fmt: skip
    assert history(order) == [("+", None, None), ("~", "boss", "label"), ("~", "boss", "admin")]


@pytest.mark.django_db
def test_tracking_number_needs_a_carrier_and_fits_the_field(boss: Any) -> None:
    order = OrderFactory.create()
    with pytest.raises(OrderActionError, match="needs a carrier"):
        order_tracking_set(order_id=order.pk, carrier="", tracking_number="SF1", user=boss)
    with pytest.raises(OrderActionError, match="longer than 64"):
        order_tracking_set(order_id=order.pk, carrier="SF", tracking_number="9" * 65, user=boss)
    assert events(order) == []


@pytest.mark.django_db
def test_priority_set_and_note_set(boss: Any) -> None:
    order = OrderFactory.create()
    order_priority_set(order_id=order.pk, priority=Priority.KEY_ACCOUNT, user=boss, reason="VIP")
    order_priority_set(order_id=order.pk, priority=Priority.KEY_ACCOUNT, user=boss)
    with pytest.raises(OrderActionError, match="unknown priority 9"):
        order_priority_set(order_id=order.pk, priority=9, user=boss)
    order_note_set(order_id=order.pk, note="call before delivery  \n", user=boss)
    order_note_set(order_id=order.pk, note="call before delivery", user=boss)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.priority, stored.internal_note) == (Priority.KEY_ACCOUNT, "call before delivery")
    assert events(order) == [
        ("order.priority_set", "boss", "admin", {"priority": "1"}, {"priority": "3"},
         {"reason": "VIP"}),
        ("order.note_set", "boss", "admin", {"internal_note": ""},
         {"internal_note": "call before delivery"}, {"reason": ""}),
    ]  # fmt: skip
    assert len(history(order)) == 3


# --- cancel ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_needs_a_reason_and_goes_through_the_transition(boss: Any) -> None:
    order = OrderFactory.create()
    with pytest.raises(OrderActionError, match="needs a reason"):
        order_cancel(order_id=order.pk, reason="  ", user=boss)
    assert (Order.objects.get(pk=order.pk).status, events(order)) == (M.PLACED, [])
    order_cancel(order_id=order.pk, reason="buyer changed their mind", user=boss)
    order_cancel(order_id=order.pk, reason="again", user=boss)
    assert Order.objects.get(pk=order.pk).status == M.CANCELLED
    assert events(order) == [
        ("order.transition", "boss", "admin", {"status": "placed"}, {"status": "cancelled"},
         {"reason": "buyer changed their mind"}),
    ]  # fmt: skip
    assert history(order)[-1] == ("~", "boss", "buyer changed their mind")


@pytest.mark.django_db
def test_cancel_is_scoped_and_a_refusal_is_kept_in_the_ledger(
    shanghai: Warehouse, guangzhou: Warehouse
) -> None:
    clerk = user_with("wh-sh", "view_order", "transition_order", warehouse=shanghai)
    mine = OrderFactory.create(warehouse=shanghai)
    theirs = OrderFactory.create(warehouse=guangzhou)
    with pytest.raises(OrderNotFoundError):
        order_cancel(order_id=theirs.pk, reason="x", user=clerk)
    with pytest.raises(OrderPermissionError):
        order_cancel(order_id=mine.pk, reason="x", user=clerk)
    assert Order.objects.get(pk=mine.pk).status == Order.objects.get(pk=theirs.pk).status
    assert events(theirs) == []
    assert events(mine) == [
        ("order.transition_denied", "wh-sh", "admin", {"status": "placed"},
         {"requested": "cancelled"}, {}),
    ]  # fmt: skip


# --- through the admin ------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_actions_call_the_services_and_keep_times_to_the_microsecond(
    admin_client: Client, shanghai: Warehouse
) -> None:
    # About the admin's own events: the consistency rules (health/tests) stay out of it.
    RuleSetting.objects.update(enabled=False)
    times = {
        "placed_at": datetime(2026, 11, 20, 9, 15, 42, 123456, tzinfo=SHANGHAI),
        "paid_at": datetime(2026, 11, 20, 9, 16, 3, 654321, tzinfo=SHANGHAI),
        "ship_by": datetime(2026, 11, 22, 18, 0, 59, 999999, tzinfo=SHANGHAI),
        "shipped_at": datetime(2026, 11, 21, 10, 1, 1, 1, tzinfo=SHANGHAI),
    }
    order = OrderFactory.create(**times)
    posts = {
        "warehouse": {"warehouse_code": "WH-SH", "reason": "closest"},
        "tracking": {"carrier": "SF", "tracking_number": "SF42", "reason": ""},
        "priority": {"priority": "2", "reason": "late"},
        "note": {"internal_note": "fragile"},
    }
    for action, data in posts.items():
        url = reverse("admin:orderhub_order_action", args=[order.pk, action])
        response = admin_client.post(url, data, follow=True, HTTP_ACCEPT_LANGUAGE="en")
        assert response.redirect_chain[-1][1] == 302
        with translation.override(response.wsgi_request.LANGUAGE_CODE):
            updated = translation.gettext("Order %(order)s updated.") % {"order": order}
        assert updated in response.content.decode()
    transition = reverse("admin:orderhub_order_transition", args=[order.pk, M.PAID])
    admin_client.post(transition)
    stored = row(order)
    assert {name: stored[name] for name in times} == times
    assert (stored["warehouse_id"], stored["carrier"], stored["tracking_number"]) == (
        shanghai.pk,
        "SF",
        "SF42",
    )
    assert (stored["priority"], stored["internal_note"], stored["status"]) == (2, "fragile", M.PAID)
    assert [e[0] for e in events(order)] == [
        "order.warehouse_assigned", "order.tracking_set", "order.priority_set", "order.note_set",
        "order.transition",
    ]  # fmt: skip
    assert {e[1] for e in events(order)} == {"admin"}


@pytest.mark.django_db
def test_admin_action_error_is_shown_and_changes_nothing(admin_client: Client) -> None:
    order = OrderFactory.create()
    before = row(order)
    url = reverse("admin:orderhub_order_action", args=[order.pk, "warehouse"])
    response = admin_client.post(url, {"warehouse_code": "WH-NOPE"}, follow=True)
    assert "Unknown warehouse &#x27;WH-NOPE&#x27;" in response.content.decode()
    cancel = reverse("admin:orderhub_order_transition", args=[order.pk, M.CANCELLED])
    response = admin_client.post(cancel, {"reason": ""}, follow=True)
    assert "Cancelling an order needs a reason" in response.content.decode()
    assert (row(order), events(order)) == (before, [])
    assert (
        admin_client.post(reverse("admin:orderhub_order_action", args=[order.pk, "x"])).status_code
        == 404
    )


@pytest.mark.django_db
def test_admin_action_without_permission_is_403(shanghai: Warehouse) -> None:
    user = user_with("viewer", "view_order", "change_order")
    client = Client()
    client.force_login(user)
    order = OrderFactory.create()
    before = row(order)
    for action in ("warehouse", "tracking", "priority", "note"):
        url = reverse("admin:orderhub_order_action", args=[order.pk, action])
        assert client.post(url, {"warehouse_code": "WH-SH", "priority": "2"}).status_code == 403
    page = client.get(reverse("admin:orderhub_order_change", args=[order.pk])).content.decode()
    assert 'id="order-actions"' not in page
    assert row(order) == before


@pytest.mark.django_db
def test_order_page_action_forms_stand_outside_the_page_form(
    admin_client: Client, shanghai: Warehouse
) -> None:
    order = OrderFactory.create(internal_note="call first")
    html = admin_client.get(reverse("admin:orderhub_order_change", args=[order.pk])).content
    page = html.decode()
    page_form_end = page.index("</form>", page.index('id="order_form"'))
    for name in ("warehouse", "tracking", "priority", "note"):
        assert page.index(f'<form id="action-{name}"') > page_form_end, name
        assert f'form="action-{name}"' in page
    assert page.index('<form id="transition-paid"') > page_form_end
    assert 'name="reason" form="transition-cancelled" required' in page
    assert '<option value="WH-SH">' in page
    assert ">call first</textarea>" in page
