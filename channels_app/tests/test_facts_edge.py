"""The facts API answered at the WSGI edge (token requests): store first, apply in batches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from channels_app.models import ChannelAccount, ReceiptStatus, SystemFactReceipt, SystemReporter
from channels_app.services import channel_account_create, facts_intake
from channels_app.services.system_facts import (
    system_facts_apply_received,
    system_facts_drain,
    system_facts_waiting_sweep,
)
from channels_app.tests.test_edge import call
from orderhub.choices import Milestone
from orderhub.models import Order, StatusFact, Warehouse
from tests.factories import OrderFactory, WarehouseFactory
from traceability.models import LedgerEvent

AT = "2026-05-01T12:00:00+08:00"
PATH = "/api/v1/facts/"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
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
def token(wms: ChannelAccount) -> str:
    user = User.objects.create_user("wms-bot")
    SystemReporter.objects.create(account=wms, user=user)
    return Token.objects.create(user=user).key


def fact(key: str, order: dict[str, Any], raw: str = "SHIPPED", **extra: Any) -> dict[str, Any]:
    return {"key": key, "system": "wms-sh", "order": order, "raw_status": raw,
            "occurred_at": AT, **extra}  # fmt: skip


def post(token: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, headers, out = call(
        PATH, raw, {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    )
    assert headers["Content-Type"] == "application/json"
    return int(status.split()[0]), json.loads(out)


@pytest.mark.django_db(transaction=True)
def test_edge_stores_first_and_the_worker_applies(token: str) -> None:
    order = OrderFactory.create()
    answer = post(token, fact("k-1", {"id": order.pk}, raw="PACKED"))
    assert answer == (202, {"key": "k-1", "order": order.pk, "outcome": "accepted"})
    assert post(token, fact("k-1", {"id": order.pk}, raw="SHIPPED")) == (200, answer[1])
    receipt = SystemFactReceipt.objects.get()
    assert (receipt.status, receipt.pending["raw_status"]) == (ReceiptStatus.RECEIVED, "PACKED")
    assert StatusFact.objects.count() == 0
    assert LedgerEvent.objects.filter(order_id=order.pk, action="fact.recorded").count() == 0

    assert system_facts_drain(limit=500, budget_seconds=5) == 1
    order.refresh_from_db()
    assert order.status == Milestone.PICKED_PACKED
    row = StatusFact.objects.get()
    assert (row.system, row.raw_status, row.outcome) == ("wms:wms-sh", "PACKED", "skipped_ahead")
    event = LedgerEvent.objects.get(order_id=order.pk, action="fact.recorded")
    assert event.actor == "wms-bot"
    receipt.refresh_from_db()
    assert (receipt.status, receipt.fact_id_ref) == (ReceiptStatus.DONE, row.pk)
    assert system_facts_drain(limit=500, budget_seconds=5) == 0


@pytest.mark.django_db(transaction=True)
def test_a_revoked_token_stops_working_with_the_next_request(token: str) -> None:
    order = OrderFactory.create()
    assert post(token, fact("k-1", {"id": order.pk}))[0] == 202  # cached now
    Token.objects.filter(key=token).delete()
    assert post(token, fact("k-2", {"id": order.pk})) == (401, {"detail": "Invalid token."})
    assert list(SystemFactReceipt.objects.values_list("key", flat=True)) == ["k-1"]


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_user_and_a_removed_reporter_stop_at_once(token: str) -> None:
    order = OrderFactory.create()
    assert post(token, fact("k-1", {"id": order.pk}))[0] == 202
    SystemReporter.objects.all().delete()
    assert post(token, fact("k-2", {"id": order.pk})) == (
        403, {"detail": "wms-bot may not report for wms-sh"},
    )  # fmt: skip
    User.objects.filter(username="wms-bot").update(is_active=False)
    assert post(token, fact("k-3", {"id": order.pk})) == (
        401, {"detail": "User inactive or deleted."},
    )  # fmt: skip
    assert SystemFactReceipt.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_disabled_account_stops_at_once_and_works_again_when_enabled(
    token: str, wms: ChannelAccount
) -> None:
    order = OrderFactory.create()
    assert post(token, fact("k-1", {"id": order.pk}))[0] == 202
    ChannelAccount.objects.filter(pk=wms.pk).update(enabled=False)
    assert post(token, fact("k-2", {"id": order.pk})) == (
        403, {"detail": "system wms-sh is disabled"},
    )  # fmt: skip
    ChannelAccount.objects.filter(pk=wms.pk).update(enabled=True)
    assert post(token, fact("k-3", {"id": order.pk}))[0] == 202
    assert sorted(SystemFactReceipt.objects.values_list("key", flat=True)) == ["k-1", "k-3"]


@pytest.mark.django_db(transaction=True)
def test_edge_refuses_bad_input_naming_the_field_and_stores_nothing(token: str) -> None:
    order = OrderFactory.create()
    theirs = OrderFactory.create(warehouse=WarehouseFactory.create(code="WH-BJ"))
    assert post(token, b"{not json")[0] == 400
    assert post(token, {**fact("k-1", {"id": order.pk}), "raw_status": "A\x00B"}) == (
        400, {"raw_status": ["Null characters are not allowed."]},
    )  # fmt: skip
    assert post(token, {**fact("k-1", {"id": order.pk}), "occurred_at": "1999-01-01T00:00:00Z"})[
        1
    ].keys() == {"occurred_at"}
    assert post(token, [fact("k-1", {"id": order.pk}), {"key": "k-2"}])[1][1].keys() == {
        "system", "order", "raw_status", "occurred_at",
    }  # fmt: skip
    surrogate = json.dumps(fact("k-1", {"id": order.pk})).replace('"k-1"', '"k-\\ud800"')
    assert post(token, surrogate.encode()) == (
        400, {"key": ["The text is not valid Unicode (a lone surrogate)."]},
    )  # fmt: skip
    assert post(token, b"[" * 100_000) == (400, {"detail": "JSON parse error - nested too deeply."})
    assert post(token, fact("k-1", {"id": 2**63})) == (
        400, {"order": ["id: Ensure this value is between 1 and 2^63-1."]},
    )  # fmt: skip
    assert post(token, fact("k-1", {"id": theirs.pk})) == (
        403, {"detail": f"wms-sh may not report for order {theirs.pk}: another warehouse's order"},
    )  # fmt: skip
    assert post(token, [fact("k-1", {"id": order.pk}), fact("k-2", {"id": order.pk + 99})]) == (
        400, [{}, {"order": [f"order {order.pk + 99} does not exist"]}],
    )  # fmt: skip
    assert SystemFactReceipt.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_order_moved_to_another_warehouse_before_applying_is_refused(token: str) -> None:
    order = OrderFactory.create()  # no warehouse yet: the WMS may report
    assert post(token, fact("k-1", {"id": order.pk}))[0] == 202
    Order.objects.filter(pk=order.pk).update(warehouse=WarehouseFactory.create(code="WH-BJ"))
    assert system_facts_apply_received() == 1
    receipt = SystemFactReceipt.objects.get()
    assert (receipt.status, receipt.result["outcome"]) == (ReceiptStatus.REFUSED, "refused")
    assert StatusFact.objects.count() == 0
    assert Order.objects.get(pk=order.pk).status == Milestone.PLACED


@pytest.mark.django_db(transaction=True)
def test_a_waiting_fact_whose_order_appeared_meanwhile_is_swept(token: str) -> None:
    ref = {"channel": "shop-z", "external_id": "Z1"}
    assert post(token, fact("k-1", ref)) == (
        202, {"key": "k-1", "order": None, "outcome": "waiting"},
    )  # fmt: skip
    assert system_facts_apply_received() == 1
    assert SystemFactReceipt.objects.get().status == ReceiptStatus.WAITING
    assert system_facts_waiting_sweep() == 0  # nothing to take yet
    # Created without passing the creation's waiting step (as when both raced).
    order = Order.objects.create(channel="shop-z", external_id="Z1")
    assert system_facts_waiting_sweep() == 1
    assert system_facts_waiting_sweep() == 0
    receipt = SystemFactReceipt.objects.get()
    assert (receipt.status, receipt.order_id) == (ReceiptStatus.APPLIED, order.pk)
    assert Order.objects.get(pk=order.pk).status == Milestone.HANDED_OVER
    assert StatusFact.objects.filter(order=order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_requests_without_a_token_header_go_to_django(token: str) -> None:
    # DRF answers (in the site's language): no credentials.
    status, headers, body = call(PATH, b"{}", {"Content-Type": "application/json"})
    assert (status, list(json.loads(body))) == ("401 Unauthorized", ["detail"])
    status, headers, body = call(PATH, b"{}", {"Authorization": "Token nope"})
    assert (status, headers["WWW-Authenticate"], json.loads(body)) == (
        "401 Unauthorized", "Token", {"detail": "Invalid token."},
    )  # fmt: skip
    assert SystemFactReceipt.objects.count() == 0


@pytest.mark.django_db
def test_receipts_are_shown_read_only_in_the_admin(wms: ChannelAccount) -> None:
    from django.test import Client

    SystemFactReceipt.objects.create(
        account=wms, key="k-admin-1", status=ReceiptStatus.REFUSED, response_status=202,
        result={"id": None, "order": 7, "outcome": "refused", "milestone": "handed_over"},
    )  # fmt: skip
    admin = User.objects.create_superuser("root", password="pw-123456")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/channels_app/systemfactreceipt/")
    assert listing.status_code == 200
    assert b"k-admin-1" in listing.content
    receipt = SystemFactReceipt.objects.get()
    page = client.get(f"/admin/channels_app/systemfactreceipt/{receipt.pk}/change/")
    assert page.status_code == 200
    assert b"refused" in page.content
    assert b'name="_save"' not in page.content  # read-only
    assert client.get("/admin/channels_app/systemfactreceipt/add/").status_code == 403
