"""The alerts back office: pages open, secrets stay write-only, warehouse users see only
their warehouse's incidents and deliveries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from channels_app.sandbox_api.server import SandboxAPI
from health.alerts.models import AlertRule, Delivery, Incident, Notifier
from health.alerts.tests.conftest import DINGTALK_SECRET, DINGTALK_TOKEN, make_notifier
from tests.factories import WarehouseFactory
from traceability.models import LedgerEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _incident(rule: AlertRule, code: str) -> Incident:
    warehouse = WarehouseFactory.create(code=code)
    incident = Incident.objects.create(
        rule=rule, subject_key=f"warehouse:{code}", warehouse=warehouse, status="open",
        value=Decimal(60), breach_started_at=T0, opened_at=T0, ack_nonce=code,
    )  # fmt: skip
    return incident


def test_pages_open_and_show_rule_state_and_no_secret(sandbox: SandboxAPI) -> None:
    notifier = make_notifier(sandbox, "dingtalk")
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    paths = [
        "/admin/alerts/alertrule/",
        "/admin/alerts/notifier/",
        "/admin/alerts/incident/",
        "/admin/alerts/delivery/",
        f"/admin/alerts/notifier/{notifier.pk}/change/",
    ]
    for path in paths:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, path
        body = response.content.decode()
        assert DINGTALK_SECRET not in body
        assert DINGTALK_TOKEN not in body
    rules = client.get("/en/admin/alerts/alertrule/").content.decode()
    assert rules.count("metric unavailable") == 0  # every default rule's metric is plugged in
    assert rules.count("no notifier: incidents open but nobody is told") == 4


def test_a_warehouse_user_sees_only_its_incidents_and_deliveries(sandbox: SandboxAPI) -> None:
    rule = AlertRule.objects.get(code="orders-without-tracking-2h")
    mine, theirs = _incident(rule, "WH-A"), _incident(rule, "WH-B")
    notifier = make_notifier(sandbox, "wecom")
    for incident in (mine, theirs):
        Delivery.objects.create(notifier=notifier, incident=incident, kind="opened", title="t",
                                text="x", not_before=T0, created_at=T0)  # fmt: skip
    user = User.objects.create_user("wh-a", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="alerts",
                                                         codename__startswith="view_"))  # fmt: skip
    mine.warehouse.staff.add(user)  # type: ignore[union-attr]
    client = Client()
    client.force_login(user)
    listing = client.get("/en/admin/alerts/incident/").content.decode()
    assert "warehouse:WH-A" in listing
    assert "warehouse:WH-B" not in listing
    assert client.get(f"/en/admin/alerts/incident/{theirs.pk}/change/").status_code == 302
    assert client.get(f"/en/admin/alerts/incident/{mine.pk}/change/").status_code == 200
    incidents = client.get("/en/admin/alerts/incident/").context["cl"]
    assert [i.pk for i in incidents.result_list] == [mine.pk]
    deliveries = client.get("/en/admin/alerts/delivery/").context["cl"]
    assert [d.incident_id for d in deliveries.result_list] == [mine.pk]


def test_a_notifier_added_in_the_admin_is_encrypted_and_can_be_tested(sandbox: SandboxAPI) -> None:
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    url = f"{sandbox.url}/robot/send?access_token={DINGTALK_TOKEN}"
    response = client.post(
        "/en/admin/alerts/notifier/add/",
        {"kind": "dingtalk", "code": "dt-admin", "name": "", "enabled": "on", "options": "{}",
         "new_url": url, "new_secret": DINGTALK_SECRET},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    notifier = Notifier.objects.get(code="dt-admin")
    assert notifier.url_masked == f"{sandbox.url}/robot/send?access_token=****dbox"
    assert DINGTALK_SECRET not in notifier.secrets_encrypted
    response = client.post(
        "/en/admin/alerts/notifier/",
        {"action": "send_test", "_selected_action": [notifier.pk]},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert shown[-1] == "dt-admin: Sent · HTTP 200 · errcode=0 errmsg=ok"
    assert len(sandbox.alerts.received["dingtalk"]) == 1
    assert LedgerEvent.objects.filter(action="alerts.notifier_created", actor="root").count() == 1
