"""The facts API: WMS/ERP/TMS accounts report status facts and stock with a DRF token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app.models import (
    ChannelAccount,
    InboundMessage,
    ReceiptStatus,
    SystemFactReceipt,
    SystemReporter,
)
from channels_app.services import channel_account_create, facts_intake, inbox_process_pending
from channels_app.services.system_facts import (
    system_facts_apply_received,
)
from channels_app.tests.conftest import hook_headers, order_body
from orderhub.choices import Milestone
from orderhub.models import Order, StatusFact, StockLevel, Warehouse
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

AT = "2026-05-01T12:00:00+08:00"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test's accounts and tokens are new: nothing read by an earlier test is cached."""
    facts_intake._caches.forget_all()


@pytest.fixture
def warehouse() -> Warehouse:
    return WarehouseFactory.create(code="WH-SH")


@pytest.fixture
def wms(warehouse: Warehouse) -> ChannelAccount:
    return channel_account_create(
        kind="wms", code="wms-sh", options={"warehouse": "WH-SH"}, secrets={}
    )


@pytest.fixture
def reporter(wms: ChannelAccount) -> User:
    user = User.objects.create_user("wms-bot")
    SystemReporter.objects.create(account=wms, user=user)
    return user


def api(user: User) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def fact(key: str, order: dict[str, Any], raw: str = "SHIPPED", **extra: Any) -> dict[str, Any]:
    return {"key": key, "system": "wms-sh", "order": order, "raw_status": raw,
            "occurred_at": AT, **extra}  # fmt: skip


def accepted(key: str, order: int | None) -> dict[str, Any]:
    return {"key": key, "order": order, "outcome": "accepted" if order else "waiting"}


def counts() -> tuple[int, int, int, int]:
    return (
        StatusFact.objects.count(),
        SystemFactReceipt.objects.count(),
        LedgerEvent.objects.count(),
        Order.history.count(),
    )


@pytest.mark.django_db
def test_fact_is_applied_with_tracking(reporter: User) -> None:
    order = OrderFactory.create(channel="shop-1", external_id="E1")
    body = fact("k-1", {"channel": "shop-1", "external_id": "E1"},
                carrier="jd", tracking_number="JD0076810060555")  # fmt: skip
    response = api(reporter).post("/api/v1/facts/", body, format="json")
    assert (response.status_code, response.json()) == (202, accepted("k-1", order.pk))
    # Stored first, as reported; nothing applied yet.
    receipt = SystemFactReceipt.objects.get()
    assert (receipt.status, receipt.order_id, receipt.reported_by_id, receipt.pending) == (
        ReceiptStatus.RECEIVED, order.pk, reporter.pk,
        {"raw_status": "SHIPPED", "occurred_at": AT, "carrier": "jd",
         "tracking_number": "JD0076810060555"},
    )  # fmt: skip
    assert StatusFact.objects.count() == 0
    assert Order.objects.get(pk=order.pk).status == Milestone.PLACED

    assert system_facts_apply_received() == 1
    assert system_facts_apply_received() == 0
    row = StatusFact.objects.get()
    assert (row.system, row.raw_status, row.outcome) == ("wms:wms-sh", "SHIPPED", "skipped_ahead")
    assert row.occurred_at == datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == (
        Milestone.HANDED_OVER, "jd", "JD0076810060555",
    )  # fmt: skip
    event = LedgerEvent.objects.get(action="order.tracking_set")
    assert event.before == {"carrier": "", "tracking_number": ""}
    assert event.after == {"carrier": "jd", "tracking_number": "JD0076810060555"}
    assert event.actor == "wms-bot"
    receipt.refresh_from_db()
    assert (receipt.key, receipt.status, receipt.order_id, receipt.fact_id_ref) == (
        "k-1", ReceiptStatus.DONE, order.pk, row.pk,
    )  # fmt: skip
    assert receipt.result == {
        "id": row.pk, "order": order.pk, "outcome": "applied", "milestone": "handed_over",
    }  # fmt: skip
    assert receipt.response_body == accepted("k-1", order.pk)
    assert receipt.applied_at is not None
    assert receipt.applied_at >= receipt.received_at


@pytest.mark.django_db
def test_same_key_twice_writes_one_fact_and_answers_the_same(reporter: User) -> None:
    order = OrderFactory.create()
    body = fact("k-1", {"id": order.pk}, raw="PACKED")
    first = api(reporter).post("/api/v1/facts/", body, format="json")
    before = counts()
    # Even with another status under the same key: the key decides, nothing is written.
    second = api(reporter).post("/api/v1/facts/", {**body, "raw_status": "SHIPPED"}, format="json")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == first.json() == accepted("k-1", order.pk)
    assert counts() == before
    assert system_facts_apply_received() == 1
    # Applied since: the same key still gets the same answer and writes nothing.
    applied = counts()
    third = api(reporter).post("/api/v1/facts/", body, format="json")
    assert (third.status_code, third.json()) == (200, first.json())
    assert counts() == applied
    assert system_facts_apply_received() == 0
    assert StatusFact.objects.count() == 1
    assert Order.objects.get(pk=order.pk).status == Milestone.PICKED_PACKED


@pytest.mark.django_db
def test_same_key_twice_in_one_batch_is_one_fact(reporter: User) -> None:
    order = OrderFactory.create()
    body = fact("k-1", {"id": order.pk}, raw="PACKED")
    response = api(reporter).post("/api/v1/facts/", [body, body], format="json")
    assert response.status_code == 202
    first, second = response.json()
    assert first == second == accepted("k-1", order.pk)
    assert SystemFactReceipt.objects.count() == 1
    assert system_facts_apply_received() == 1
    assert StatusFact.objects.count() == 1


@pytest.mark.django_db
def test_outcomes_late_unmapped_and_duplicate(reporter: User) -> None:
    order = OrderFactory.create()
    client = api(reporter)

    def report(body: dict[str, Any]) -> dict[str, Any]:
        assert client.post("/api/v1/facts/", body, format="json").status_code == 202
        assert system_facts_apply_received() == 1
        return SystemFactReceipt.objects.get(key=body["key"]).result

    report(fact("k-1", {"id": order.pk}, raw="PACKED"))
    late = report(fact("k-2", {"id": order.pk}, raw="ALLOCATED",
                       occurred_at="2026-05-01T09:00:00+08:00"))  # fmt: skip
    unmapped = report(fact("k-3", {"id": order.pk}, raw="WEIGHED"))
    # The same statement as k-1 under a new key: its result names the stored fact.
    duplicate = report(fact("k-4", {"id": order.pk}, raw="PACKED"))
    packed = StatusFact.objects.get(raw_status="PACKED")
    assert (late["outcome"], late["milestone"]) == ("late", "stock_locked")
    assert (unmapped["outcome"], unmapped["milestone"]) == ("unmapped", None)
    assert duplicate == {
        "id": packed.pk, "order": order.pk, "outcome": "duplicate", "milestone": "picked_packed",
    }  # fmt: skip
    assert StatusFact.objects.count() == 3
    assert Order.objects.get(pk=order.pk).status == Milestone.PICKED_PACKED


def _batch_statements(reporter: User, size: int, prefix: str) -> tuple[int, int, list[Any]]:
    """(statements of the request, statements of applying its facts, the answers)."""
    orders = Order.objects.bulk_create(
        Order(channel="shop-1", external_id=f"{prefix}-{n}") for n in range(size)
    )
    body = [
        fact(
            f"{prefix}-{n}",
            {"channel": "shop-1", "external_id": order.external_id},
            raw="PACKED",
            tracking_number=f"T{n}",
        )
        for n, order in enumerate(orders)
    ]
    client = api(reporter)
    with CaptureQueriesContext(connection) as request:
        response = client.post("/api/v1/facts/", body, format="json")
    assert response.status_code == 202
    stores = [q for q in request.captured_queries if "INSERT INTO" in q["sql"]]
    assert len(stores) == 1  # every fact of the request stored by one statement
    assert SystemFactReceipt.objects.filter(status=ReceiptStatus.RECEIVED).count() == size
    with CaptureQueriesContext(connection) as applying:
        assert system_facts_apply_received(limit=500) == size
    return len(request), len(applying), response.json()


@pytest.mark.django_db
def test_batch_of_500_costs_the_statements_of_50(
    reporter: User, django_assert_max_num_queries: Any
) -> None:
    small_request, small_apply, _answers = _batch_statements(reporter, 50, "a")
    # The request: DRF's token look-up and the one storing statement. Applying: a fixed few per
    # flush for each listener (write-back, courier subscription, allocation, stock, the
    # consistency rules): never per fact.
    with django_assert_max_num_queries(40):
        large_request, large_apply, answers = _batch_statements(reporter, 500, "b")
    assert large_apply == small_apply
    # The account is read (two statements) by the first request of the process only.
    assert (small_request, large_request) == (4, 2)
    assert len(answers) == 500
    expected = list(
        Order.objects.filter(external_id__startswith="b-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert answers == [accepted(f"b-{n}", pk) for n, pk in enumerate(expected)]
    assert {r.result["outcome"] for r in SystemFactReceipt.objects.all()} == {"applied"}
    assert StatusFact.objects.count() == 550
    assert (
        Order.objects.filter(
            status=Milestone.PICKED_PACKED, tracking_number__startswith="T"
        ).count()
        == 550
    )


@pytest.mark.django_db
def test_batch_answers_in_request_order(reporter: User) -> None:
    first, second = OrderFactory.create(), OrderFactory.create()
    response = api(reporter).post(
        "/api/v1/facts/",
        [
            fact("k-2", {"id": second.pk}, raw="PACKED"),
            fact("k-1", {"id": first.pk}, raw="SHIPPED"),
            fact("k-3", {"channel": "shop-x", "external_id": "nope"}),
        ],
        format="json",
    )
    assert response.status_code == 202
    assert response.json() == [
        accepted("k-2", second.pk),
        accepted("k-1", first.pk),
        accepted("k-3", None),
    ]
    assert system_facts_apply_received() == 3
    results = {r.key: r.result for r in SystemFactReceipt.objects.all()}
    assert [
        (results[k]["order"], results[k]["outcome"], results[k]["milestone"])
        for k in ("k-2", "k-1", "k-3")
    ] == [
        (second.pk, "applied", "picked_packed"),
        (first.pk, "applied", "handed_over"),
        (None, "waiting", "handed_over"),
    ]


@pytest.mark.django_db
def test_unknown_order_waits_and_is_applied_once_when_it_arrives(
    reporter: User, account: ChannelAccount, client: Client
) -> None:
    body = fact("k-1", {"channel": "test-shop", "external_id": "A1"},
                carrier="jd", tracking_number="JD1")  # fmt: skip
    waiting = api(reporter).post("/api/v1/facts/", body, format="json")
    assert (waiting.status_code, waiting.json()) == (202, accepted("k-1", None))
    assert system_facts_apply_received() == 1
    assert SystemFactReceipt.objects.get().status == ReceiptStatus.WAITING
    assert StatusFact.objects.count() == 0
    assert Order.objects.count() == 0

    # The order arrives through the real intake: a signed webhook, then the inbox worker.
    hook = order_body({"id": "A1", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})
    response = client.post("/hooks/test-shop/", data=hook, content_type="application/json",
                           headers=hook_headers(hook, delivery="d-1"))  # fmt: skip
    assert response.status_code == 200
    assert inbox_process_pending() == 1
    order = Order.objects.get()
    assert (order.channel, order.external_id, order.status) == ("test-shop", "A1", "handed_over")
    assert (order.carrier, order.tracking_number) == ("jd", "JD1")
    row = StatusFact.objects.get(system="wms:wms-sh")
    assert (row.outcome, row.status_before, row.raw_status) == (
        "skipped_ahead",
        "placed",
        "SHIPPED",
    )
    receipt = SystemFactReceipt.objects.get()
    assert (receipt.status, receipt.order_id, receipt.fact_id_ref) == (
        ReceiptStatus.APPLIED, order.pk, row.pk,
    )  # fmt: skip
    actions = list(
        LedgerEvent.objects.filter(order_id=order.pk)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[0] == "order.created"
    assert actions.count("order.tracking_set") == 1

    assert receipt.result == {
        "id": row.pk, "order": order.pk, "outcome": "applied", "milestone": "handed_over",
    }  # fmt: skip
    # The same key again gets the same answer; nothing is written.
    before = counts()
    again = api(reporter).post("/api/v1/facts/", body, format="json")
    assert (again.status_code, again.json()) == (200, accepted("k-1", None))
    # A later message for the order does not apply the fact a second time.
    update = order_body({"id": "A1", "status": "PAID", "at": "2026-05-01T10:05:00+08:00"})
    client.post("/hooks/test-shop/", data=update, content_type="application/json",
                headers=hook_headers(update, delivery="d-2"))  # fmt: skip
    assert inbox_process_pending() == 1
    assert StatusFact.objects.filter(system="wms:wms-sh").count() == 1
    assert SystemFactReceipt.objects.get().status == ReceiptStatus.APPLIED
    assert counts()[0] == before[0] + 1  # only the PAID fact (late)
    assert InboundMessage.objects.filter(status="processed").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": "2026-05-01T12:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"key": ""}, "key"),
        ({"raw_status": "x" * 129}, "raw_status"),
        ({"order": {"channel": "shop-1"}}, "order"),
        ({"order": {"id": "seven"}}, "order"),
        ({"system": "shopify-main"}, "system"),
        ({"tracking_number": "x" * 65}, "tracking_number"),
    ],
)
def test_bad_body_gets_400_naming_the_field(
    reporter: User, change: dict[str, Any], field: str
) -> None:
    order = OrderFactory.create()
    body = {**fact("k-1", {"id": order.pk}), **change}
    body = {name: value for name, value in body.items() if value is not None}
    before = counts()
    response = api(reporter).post("/api/v1/facts/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert counts() == before


@pytest.mark.django_db
def test_bad_item_of_a_batch_is_named_by_position_and_nothing_is_stored(reporter: User) -> None:
    order = OrderFactory.create()
    before = counts()
    response = api(reporter).post(
        "/api/v1/facts/",
        [fact("k-1", {"id": order.pk}), fact("k-2", {"id": order.pk + 1000})],
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == [{}, {"order": [f"order {order.pk + 1000} does not exist"]}]
    assert counts() == before


@pytest.mark.django_db
def test_batch_over_500_is_refused(reporter: User) -> None:
    body = [fact(f"k-{n}", {"id": 1}) for n in range(501)]
    response = api(reporter).post("/api/v1/facts/", body, format="json")
    assert response.status_code == 400
    assert "500" in response.json()["detail"]
    assert SystemFactReceipt.objects.count() == 0


@pytest.mark.django_db
def test_token_that_may_not_report_gets_403_and_nothing_is_stored(wms: ChannelAccount) -> None:
    order = OrderFactory.create()
    stranger = User.objects.create_user("someone")
    before = counts()
    response = api(stranger).post("/api/v1/facts/", fact("k-1", {"id": order.pk}), format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "someone may not report for wms-sh"}
    assert counts() == before
    assert Order.objects.get(pk=order.pk).status == Milestone.PLACED


@pytest.mark.django_db
def test_no_token_gets_401(wms: ChannelAccount) -> None:
    response = APIClient().post("/api/v1/facts/", fact("k-1", {"id": 1}), format="json")
    assert response.status_code == 401
    assert SystemFactReceipt.objects.count() == 0


@pytest.mark.django_db
def test_wms_may_not_report_for_another_warehouses_order(reporter: User) -> None:
    other = WarehouseFactory.create(code="WH-BJ")
    mine = OrderFactory.create()  # no warehouse yet: allowed
    theirs = OrderFactory.create(warehouse=other)
    before = counts()
    response = api(reporter).post(
        "/api/v1/facts/",
        [fact("k-1", {"id": mine.pk}), fact("k-2", {"id": theirs.pk})],
        format="json",
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"wms-sh may not report for order {theirs.pk}: another warehouse's order"
    }
    assert counts() == before
    assert Order.objects.get(pk=mine.pk).status == Milestone.PLACED


@pytest.mark.django_db
def test_erp_without_warehouse_and_superuser_report_for_every_warehouse(
    warehouse: Warehouse,
) -> None:
    channel_account_create(kind="erp", code="erp-k3", options={}, secrets={})
    admin = User.objects.create_superuser("root")
    order = OrderFactory.create(warehouse=WarehouseFactory.create(code="WH-BJ"))
    body = {**fact("k-1", {"id": order.pk}, raw="APPROVED"), "system": "erp-k3"}
    response = api(admin).post("/api/v1/facts/", body, format="json")
    assert (response.status_code, response.json()) == (202, accepted("k-1", order.pk))
    assert system_facts_apply_received() == 1
    assert SystemFactReceipt.objects.get().result["outcome"] == "applied"
    assert Order.objects.get(pk=order.pk).status == Milestone.STOCK_LOCKED


@pytest.mark.django_db
def test_stock_levels_are_upserted(reporter: User, warehouse: Warehouse) -> None:
    client = api(reporter)
    first = client.post("/api/v1/stock/", {"system": "wms-sh", "levels": [
        {"sku": "SKU-1", "warehouse": "WH-SH", "on_hand": 10},
        {"sku": "SKU-2", "warehouse": "WH-SH", "on_hand": 3},
    ]}, format="json")  # fmt: skip
    StockLevel.objects.filter(sku="SKU-1").update(reserved=4)
    second = client.post("/api/v1/stock/", {"system": "wms-sh", "levels": [
        {"sku": "SKU-1", "warehouse": "WH-SH", "on_hand": 7},
    ]}, format="json")  # fmt: skip
    assert (first.status_code, first.json()) == (200, {"system": "wms-sh", "stored": 2})
    assert (second.status_code, second.json()) == (200, {"system": "wms-sh", "stored": 1})
    stored = StockLevel.objects.order_by("sku").values_list("sku", "on_hand", "reserved", "source")
    assert list(stored) == [
        ("SKU-1", 7, 4, "wms:wms-sh"), ("SKU-2", 3, 0, "wms:wms-sh"),
    ]  # fmt: skip
    assert LedgerEvent.objects.filter(action="stock.levels_reported").count() == 2


@pytest.mark.django_db
def test_stock_for_another_warehouse_or_without_right_is_403(
    reporter: User, warehouse: Warehouse, wms: ChannelAccount
) -> None:
    WarehouseFactory.create(code="WH-BJ")
    body = {"system": "wms-sh", "levels": [{"sku": "S", "warehouse": "WH-BJ", "on_hand": 1}]}
    foreign = api(reporter).post("/api/v1/stock/", body, format="json")
    stranger = api(User.objects.create_user("x")).post(
        "/api/v1/stock/",
        {**body, "levels": [{"sku": "S", "warehouse": "WH-SH", "on_hand": 1}]},
        format="json",
    )
    bad = api(reporter).post("/api/v1/stock/", {"system": "wms-sh", "levels": [
        {"sku": "S", "warehouse": "WH-SH", "on_hand": -1}]}, format="json")  # fmt: skip
    assert (foreign.status_code, foreign.json()) == (
        403, {"detail": "wms-sh reports for WH-SH only, not WH-BJ"},
    )  # fmt: skip
    assert stranger.status_code == 403
    assert (bad.status_code, list(bad.json())) == (400, ["levels"])
    assert StockLevel.objects.count() == 0


def test_occurred_at_parsing_keeps_the_offset() -> None:
    from channels_app.serializers import OffsetDateTimeField

    value = OffsetDateTimeField().to_internal_value("2026-05-01T12:00:00+08:00")
    assert value.utcoffset() == timedelta(hours=8)


@pytest.mark.django_db
def test_batch_with_a_bad_field_names_it_at_its_position(reporter: User) -> None:
    order = OrderFactory.create()
    body = [fact("k-1", {"id": order.pk}), fact("k-2", {"id": order.pk}, occurred_at="noon")]
    response = api(reporter).post("/api/v1/facts/", body, format="json")
    assert response.status_code == 400
    assert response.json() == [
        {},
        {
            "occurred_at": [
                "Give an ISO 8601 time with a UTC offset, e.g. 2026-05-01T10:00:00+08:00."
            ]
        },
    ]
    assert SystemFactReceipt.objects.count() == 0


@pytest.mark.django_db
def test_reporter_added_by_command_may_report(wms: ChannelAccount) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    user = User.objects.create_user("erp-bot")
    out = StringIO()
    call_command("system_reporter_add", "--system", "wms-sh", "--user", "erp-bot", stdout=out)
    call_command("system_reporter_add", "--system", "wms-sh", "--user", "erp-bot", stdout=out)
    assert out.getvalue() == (
        "erp-bot may now report for wms-sh\nerp-bot could already report for wms-sh\n"
    )
    assert LedgerEvent.objects.filter(action="channel.reporter_added").count() == 1
    with pytest.raises(CommandError, match="no wms, erp or tms account 'shop'"):
        call_command("system_reporter_add", "--system", "shop", "--user", "erp-bot")
    order = OrderFactory.create()
    response = api(user).post("/api/v1/facts/", fact("k-1", {"id": order.pk}), format="json")
    assert response.status_code == 202


@pytest.mark.django_db
def test_channel_add_makes_system_accounts_as_the_readme_prints(warehouse: Warehouse) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("channel_add", "--kind", "wms", "--code", "wms-sh",
                 "--option", "warehouse=WH-SH", stdout=out)  # fmt: skip
    call_command("channel_add", "--kind", "erp", "--code", "erp-main", stdout=out)
    assert list(ChannelAccount.objects.order_by("code").values_list("kind", "code", "options")) == [
        ("erp", "erp-main", {}),
        ("wms", "wms-sh", {"warehouse": "WH-SH"}),
    ]


def test_system_kinds_are_registered_with_their_vocabularies() -> None:
    from channels_app.adapters.base import adapters

    wms = adapters.get("wms")
    assert [(spec.name, spec.required, spec.secret) for spec in wms.options] == [
        ("warehouse", True, False), ("base_url", False, False), ("api_token", False, True),
    ]  # fmt: skip
    assert [(spec.name, spec.required) for spec in adapters.get("erp").options] == [
        ("warehouse", False)
    ]
    assert wms.default_status_map["SHIPPED"] == Milestone.HANDED_OVER
    assert wms.default_status_map["PACKED"] == Milestone.PICKED_PACKED
    assert adapters.get("tms").default_status_map["DELIVERED"] == Milestone.DELIVERED
    assert set(Milestone.values) >= {
        value
        for kind in ("wms", "erp", "tms")
        for value in adapters.get(kind).default_status_map.values()
    }


@pytest.mark.django_db
def test_bad_item_after_a_repeated_key_is_named_at_its_own_position(reporter: User) -> None:
    order = OrderFactory.create()
    client = api(reporter)
    client.post("/api/v1/facts/", fact("k-0", {"id": order.pk}, raw="PACKED"), format="json")
    before = counts()
    response = client.post(
        "/api/v1/facts/",
        [fact("k-0", {"id": order.pk}), fact("k-0", {"id": order.pk}),
         fact("k-9", {"id": order.pk + 1000})],
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json() == [{}, {}, {"order": [f"order {order.pk + 1000} does not exist"]}]
    assert counts() == before


@pytest.mark.django_db
def test_a_wms_account_names_a_warehouse_that_exists() -> None:
    from django.core.exceptions import ValidationError

    from channels_app.models import ChannelAccount
    from channels_app.services import channel_account_create

    with pytest.raises(ValidationError, match="warehouse 'WH-NOPE' does not exist"):
        channel_account_create(
            kind="wms", code="wms-nope", options={"warehouse": "WH-NOPE"}, secrets={}
        )
    assert ChannelAccount.objects.filter(code="wms-nope").count() == 0
