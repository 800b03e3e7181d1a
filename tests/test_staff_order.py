"""The staff order page and the trace tell an order's story once per event; the buttons call the
services with the admin's permissions; another warehouse's order is 404; the chosen language
sticks; the admin index leads with daily work; addresses read right."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import translation

from health.models import Anomaly
from orderhub.addresses import address_format
from orderhub.choices import Milestone, Priority
from orderhub.models import Order, Warehouse
from orderhub.staff.selectors import order_page_get
from traceability.models import LedgerEvent
from traceability.pdf import trace_html
from traceability.selectors import order_trace
from traceability.story import story_lines, story_summary
from traceability.tests.conftest import ledger_settings  # noqa: F401 - autouse: key and folder
from traceability.tests.test_trace import T0, build_order


def story_order() -> Order:
    return Order.objects.select_related("warehouse").get(pk=build_order().pk)


def texts(order: Order) -> list[tuple[str, str]]:
    return [(line.role, line.text) for line in story_lines(order=order)]


# --- the story --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_story_tells_each_event_once_in_words_with_both_clocks() -> None:
    order = story_order()
    trace = order_trace(order=order)
    with translation.override("en"):
        lines = story_lines(order=order)
    # The raw trace holds every record of every source: facts, history rows, ledger events.
    assert len(trace.entries) > 3 * len(lines)
    assert [(line.role, line.text) for line in lines] == [
        ("channel", "Order received by OrderHub"),
        ("channel", "Channel reports “WAIT_SELLER_SEND_GOODS” (Paid); order Placed → Paid"),
        ("erp", "ERP reports “已审核” (Stock locked); order Paid → Stock locked"),
        (
            "wms",
            "WMS reports “PACKED” (Picked and packed); order Stock locked → Picked and packed; "
            "skipped Warehouse accepted",
        ),
        (
            "courier",
            "Courier reports “已揽收” (Collected by carrier); order Picked and packed → "
            "Collected by carrier; skipped Waybill issued, Handed over to courier",
        ),
        ("orderhub", "Problem found: Sync lag; tmall: WAIT_SELLER_SEND_GOODS, wms: PACKED"),
        ("orderhub", "Problem closed by new evidence: Sync lag"),
    ]
    # Each fact line: the source's clock and ours, and the seal of its ledger event.
    courier = lines[4]
    assert courier.source_at == T0 + timedelta(minutes=9)
    assert courier.received_at > courier.source_at
    sealed = {event.pk for event in LedgerEvent.objects.filter(order_id=order.pk)}
    assert len(sealed) == 14
    assert all(line.ledger_seq for line in lines)
    assert len({line.ledger_seq for line in lines}) == len(lines)
    # No ledger key, no English field name on a Chinese screen.
    with translation.override("zh-hans"):
        chinese = " ".join(text for _role, text in texts(order))
    for key in ("occurred_at", "skipped", "fact.recorded", "order.transition", "status_fact"):
        assert key not in chinese


@pytest.mark.django_db
def test_summary_says_where_it_is_what_went_wrong_and_what_was_done() -> None:
    order = story_order()
    with translation.override("en"):
        summary = story_summary(order=order, lines=story_lines(order=order))
    assert summary.where == "Now Collected by carrier, waybill SF SF1234567890"
    assert summary.wrong == (
        "1 problem(s); latest: Problem found: Sync lag; tmall: WAIT_SELLER_SEND_GOODS, wms: PACKED"
    )
    assert summary.done == "1 action(s); latest: Problem closed by new evidence: Sync lag"


@pytest.mark.django_db
def test_a_quiet_order_has_nothing_wrong_and_nothing_done() -> None:
    from tests.factories import OrderFactory

    order = OrderFactory.create()
    with translation.override("en"):
        summary = story_summary(order=order, lines=story_lines(order=order))
    assert (summary.wrong, summary.done) == ("Nothing went wrong.", "No action was needed.")


@pytest.mark.django_db
def test_systems_side_by_side_with_the_lag_between_them() -> None:
    order = story_order()
    collected = order.facts.get(milestone=Milestone.COLLECTED)
    now = collected.received_at + timedelta(minutes=21)
    with translation.override("en"):
        page = order_page_get(order=order, now=now)
    rows = {source.role: source for source in page.sources}
    assert [source.role for source in page.sources] == [
        "channel", "erp", "wms", "courier", "customer",
    ]  # fmt: skip
    assert (rows["courier"].raw_status, rows["courier"].lag_seconds, rows["courier"].behind) == (
        "已揽收", 0.0, False,
    )  # fmt: skip
    # The others are behind the order's status (received 21 minutes ago) for 21 minutes.
    for role in ("channel", "erp", "wms"):
        assert (rows[role].behind, rows[role].lag_seconds) == (True, 21 * 60.0), role
    assert (rows["customer"].system, rows["customer"].lag_seconds) == ("", None)


# --- the page, its scope and its buttons --------------------------------------------------------


@pytest.fixture
def boss(client: Client) -> User:
    user = User.objects.create_superuser("boss", password="x")
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_staff_order_page_shows_the_story(
    client: Client, boss: User, django_assert_max_num_queries: Any
) -> None:
    order = story_order()
    with django_assert_max_num_queries(40):
        page = client.get(f"/en/orders/{order.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Now Collected by carrier, waybill SF SF1234567890" in html
    assert html.count('class="line') == 7
    assert 'data-role="courier"' in html
    assert "behind for" in html
    assert f'action="/en/orders/{order.pk}/transition/delivered/"' in html
    assert f'href="/en/trace/order/{order.pk}/"' in html
    anonymous = Client().get(f"/orders/{order.pk}/")
    assert anonymous["Location"] == f"/admin/login/?next=/orders/{order.pk}/"


@pytest.mark.django_db
def test_staff_order_page_queries_do_not_grow_with_the_story(
    client: Client, boss: User, django_assert_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    order = story_order()
    with CaptureQueriesContext(connection) as first:
        client.get(f"/orders/{order.pk}/")
    for minutes in range(10, 20):
        Anomaly.objects.create(
            kind="sla_at_risk", order=order, subject_key=f"order:{order.pk}:{minutes}",
            opened_at=T0, evidence_at=T0, deadline=T0 + timedelta(minutes=minutes),
        )  # fmt: skip
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(f"/orders/{order.pk}/")


@pytest.mark.django_db
def test_another_warehouses_order_is_not_found_on_every_staff_order_url(client: Client) -> None:
    order = story_order()
    theirs = Warehouse.objects.create(code="WH-HZ", name="杭州仓")
    Order.objects.filter(pk=order.pk).update(warehouse=theirs)
    mine = Warehouse.objects.create(code="WH-SH", name="上海仓")
    picker = User.objects.create_user("picker", password="x", is_staff=True)
    picker.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_order", "change_order", "transition_order", "set_priority", "change_anomaly",
    ]))  # fmt: skip
    mine.staff.add(picker)
    anomaly = Anomaly.objects.create(
        kind="sync_lag", order=order, subject_key="x", opened_at=T0, evidence_at=T0
    )
    client.force_login(picker)
    assert client.get(f"/orders/{order.pk}/").status_code == 404
    before = LedgerEvent.objects.count()
    assert client.post(f"/orders/{order.pk}/transition/delivered/").status_code == 404
    assert client.post(f"/orders/{order.pk}/action/priority/", {"priority": 1}).status_code == 404
    resolve = f"/orders/{order.pk}/anomalies/{anomaly.pk}/resolve/"
    assert client.post(resolve).status_code == 404
    assert LedgerEvent.objects.count() == before
    assert Order.objects.get(pk=order.pk).status == Milestone.COLLECTED
    # The twin: their own warehouse's order opens.
    Order.objects.filter(pk=order.pk).update(warehouse=mine)
    assert client.get(f"/orders/{order.pk}/").status_code == 200


@pytest.mark.django_db
def test_transition_button_moves_the_order_through_the_service(client: Client, boss: User) -> None:
    order = story_order()
    response = client.post(f"/orders/{order.pk}/transition/delivered/")
    assert (response.status_code, response["Location"]) == (302, f"/orders/{order.pk}/")
    assert Order.objects.get(pk=order.pk).status == Milestone.DELIVERED
    event = LedgerEvent.objects.filter(order_id=order.pk).latest("id")
    assert (event.action, event.actor, event.source_system, event.after) == (
        "order.transition", "boss", "staff", {"status": "delivered"},
    )  # fmt: skip
    # Not a transition offered from "delivered": refused, nothing written.
    count = LedgerEvent.objects.count()
    assert client.post(f"/orders/{order.pk}/transition/paid/").status_code == 403
    assert client.get(f"/orders/{order.pk}/transition/delivered/").status_code == 405
    assert LedgerEvent.objects.count() == count


@pytest.mark.django_db
def test_action_buttons_need_the_admins_permission(client: Client) -> None:
    order = story_order()
    clerk = User.objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(clerk)
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "/action/priority/" not in page
    assert "/transition/" not in page
    assert client.post(f"/orders/{order.pk}/action/priority/", {"priority": 1}).status_code == 403
    assert not LedgerEvent.objects.filter(action="order.priority_set").exists()

    clerk.user_permissions.add(Permission.objects.get(codename="set_priority"))
    clerk = User.objects.get(pk=clerk.pk)  # fresh permission cache
    client.force_login(clerk)
    response = client.post(
        f"/orders/{order.pk}/action/priority/", {"priority": Priority.HIGH, "reason": "VIP"}
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).priority == Priority.HIGH
    event = LedgerEvent.objects.get(action="order.priority_set")
    assert (event.actor, event.source_system, event.references) == (
        "clerk", "staff", {"reason": "VIP"},
    )  # fmt: skip
    with translation.override("en"):
        line = story_lines(order=Order.objects.get(pk=order.pk))[-1]
        high = str(Priority.HIGH.label)
    assert (line.text, line.actor, line.tone) == (
        f"Priority set; priority: Normal → {high}; reason: VIP", "clerk", "action",
    )  # fmt: skip
    assert client.post(f"/orders/{order.pk}/action/unknown/").status_code == 404


@pytest.mark.django_db
def test_closing_an_anomaly_by_hand_from_the_order_page(client: Client, boss: User) -> None:
    order = story_order()
    anomaly = Anomaly.objects.create(
        kind="ghost_shipment", order=order, subject_key=f"order:{order.pk}", opened_at=T0,
        evidence_at=T0, deadline=T0 + timedelta(hours=2), evidence={"summary": "no scan"},
    )  # fmt: skip
    html = client.get(f"/en/orders/{order.pk}/").content.decode()
    assert 'data-kind="ghost_shipment"' in html
    assert "no scan" in html
    url = f"/orders/{order.pk}/anomalies/{anomaly.pk}/resolve/"
    assert client.post(url, {"note": "carrier confirmed pickup"}).status_code == 302
    anomaly.refresh_from_db()
    assert (anomaly.resolution, anomaly.resolved_by, anomaly.resolved_note) == (
        "manual", boss, "carrier confirmed pickup",
    )  # fmt: skip
    # Someone without the anomaly permission cannot.
    other = Anomaly.objects.create(
        kind="sync_lag", order=order, subject_key="y", opened_at=T0, evidence_at=T0
    )
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    assert client.post(f"/orders/{order.pk}/anomalies/{other.pk}/resolve/").status_code == 403
    assert Anomaly.objects.get(pk=other.pk).resolved_at is None


# --- trace page and PDF -------------------------------------------------------------------------


@pytest.mark.django_db
def test_trace_page_opens_with_the_summary_and_links_to_the_order_page(
    client: Client, boss: User
) -> None:
    order = story_order()
    html = client.get(f"/en/trace/order/{order.pk}/").content.decode()
    assert html.index('id="summary"') < html.index('id="timeline"') < html.index("source-records")
    assert "Now Collected by carrier" in html
    assert f'href="/en/orders/{order.pk}/"' in html
    assert "<td>Sync lag</td>" in html
    assert "浙江省杭州市 文三路 100 号" in html


@pytest.mark.django_db
def test_pdf_in_chinese_has_the_summary_and_clause_titles_in_chinese() -> None:
    order = story_order()
    html = trace_html(trace=order_trace(order=order), language="zh-hans")
    assert "标识和可追溯性" in html  # 8.5.2 Identification and traceability, GB/T 19001
    assert "Identification and traceability" not in html
    for heading in ("现状", "出了什么问题", "做了什么"):
        assert heading in html
    english = trace_html(trace=order_trace(order=order), language="en")
    assert "Identification and traceability" in english
    assert "Where it is" in english


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("SG", "Singapore", "Singapore", "", "30 Marina Boulevard", "018989"),
         "30 Marina Boulevard, Singapore 018989"),
        (("SG", "Singapore", "Singapore", "", "30 Marina Boulevard", ""),
         "30 Marina Boulevard, Singapore"),
        (("US", "California", "San Francisco", "", "12 Market Street", "94103"),
         "12 Market Street, San Francisco, California 94103, United States"),
        (("DE", "Berlin", "Berlin", "", "5 Invalidenstraße", "10115"),
         "5 Invalidenstraße, Berlin 10115, Germany"),
        (("CN", "上海市", "上海市", "浦东新区", "世纪大道 100 号", "200120"),
         "上海市浦东新区 世纪大道 100 号"),
        (("CN", "浙江省", "杭州市", "西湖区", "文三路 100 号", ""),
         "浙江省杭州市西湖区 文三路 100 号"),
    ],
)  # fmt: skip
def test_addresses_read_as_their_country_writes_them(parts: tuple[str, ...], expected: str) -> None:
    country, province, city, district, street, postal = parts
    with translation.override("en"):
        text = address_format(
            country=country, province=province, city=city, district=district, street=street,
            postal_code=postal,
        )  # fmt: skip
    assert text == expected


def test_the_country_is_named_in_the_readers_language() -> None:
    with translation.override("zh-hans"):
        text = address_format(
            country="US", province="California", city="San Francisco", district="",
            street="12 Market Street", postal_code="94103",
        )  # fmt: skip
    assert text == "12 Market Street, San Francisco, California 94103, 美国"


# --- language and the admin index ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_chosen_language_sticks_on_urls_without_a_prefix(client: Client, boss: User) -> None:
    chinese = client.get("/admin/").content.decode()
    assert "站点管理" in chinese  # no choice yet: zh-hans
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert (response.status_code, response["Location"]) == (302, "/en/admin/")
    assert client.cookies["django_language"].value == "en"
    assert "Site administration" in client.get("/admin/").content.decode()
    assert 'lang="en"' in client.get("/self-check/").content.decode()
    # The prefix still wins, and choosing Chinese again sticks too.
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/en/admin/"})
    assert "站点管理" in client.get("/admin/").content.decode()
    assert "Site administration" in client.get("/en/admin/").content.decode()


@pytest.mark.django_db
def test_admin_index_leads_with_daily_work_and_puts_system_apps_below(
    client: Client, boss: User
) -> None:
    html = client.get("/en/admin/").content.decode()
    daily = html.index('id="daily-work"')
    assert daily < html.index("app-orderhub") < html.index('id="system-apps"')
    assert html.index('id="system-apps"') < html.index("app-django_celery_beat")
    assert html.index('id="system-apps"') < html.index("app-auth")
    for link in ("/en/admin/orderhub/order/", "/en/admin/health/anomaly/", "/board/",
                 "/en/trace/", "/en/self-check/"):  # fmt: skip
        assert f'href="{link}' in html[daily : html.index("app-orderhub")], link
