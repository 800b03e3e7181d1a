"""The engine's cost and idempotency: a fixed number of statements per flush whatever the
number of orders; evaluating twice opens nothing more; defaults exist after migrate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from health.models import Anomaly, RuleSetting
from health.rules.base import rules
from health.services import anomalies_evaluate_locked
from orderhub.domain import NormalizedOrder, StatusFactIn
from orderhub.models import Order
from orderhub.services.orders import UpsertItem, orders_upsert_locked
from orderhub.services.work import OrderWork


def reads_into(statements: list[str]) -> Any:
    """An execute wrapper that keeps the text of every SELECT as sent (before binding)."""

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().startswith("SELECT"):
            statements.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def unmapped(external_id: str) -> NormalizedOrder:
    at = timezone.now() - timedelta(minutes=5)
    return NormalizedOrder(
        channel="shop-a", external_id=external_id,
        facts=(StatusFactIn("wms:wh", "GEHEIM", None, at),),
    )  # fmt: skip


@pytest.mark.django_db
def test_defaults_exist_for_every_rule_after_migrate() -> None:
    assert sorted(RuleSetting.objects.values_list("kind", flat=True)) == sorted(rules)
    assert RuleSetting.objects.get(kind="ghost_shipment").params == {
        "hours": 24, "lead_hours": 2, "courier_systems": ["kuaidi100", "track17", "aftership"],
    }  # fmt: skip


@pytest.mark.django_db
def test_evaluating_many_orders_costs_the_statements_of_one() -> None:
    for name in ("one", "many-0", "many-1", "many-2", "many-3", "many-4", "many-5"):
        Order.objects.create(channel="shop-a", external_id=name)
    one_id = Order.objects.get(external_id="one").pk
    many_ids = list(Order.objects.exclude(pk=one_id).values_list("pk", flat=True))
    from orderhub.services.facts import status_fact_record

    for pk in [one_id, *many_ids]:
        status_fact_record(order_id=pk, fact=StatusFactIn("wms:wh", "GEHEIM", None, timezone.now()))
    Anomaly.objects.all().delete()
    now = timezone.now()
    single_reads: list[str] = []
    with (
        CaptureQueriesContext(connection) as single,
        connection.execute_wrapper(reads_into(single_reads)),
    ):
        result = anomalies_evaluate_locked(order_ids=[one_id], now=now)
    assert len(result.opened) == 1
    Anomaly.objects.all().delete()
    batch_reads: list[str] = []
    with (
        CaptureQueriesContext(connection) as batch,
        connection.execute_wrapper(reads_into(batch_reads)),
    ):
        result = anomalies_evaluate_locked(order_ids=[one_id, *many_ids], now=now)
    assert len(result.opened) == 7
    assert len(batch) == len(single)
    # The reads are the same statements, word for word (the ids travel as one array
    # parameter), so PostgreSQL plans each once per connection, not once per batch size.
    assert batch_reads == single_reads
    assert len(single_reads) == 5  # settings, orders, facts, open shortages, open anomalies
    assert all(" IN (" not in sql and "ANY(" in sql for sql in single_reads[1:])
    # The reads are the same statements, word for word (the ids travel as one array
    # parameter), so PostgreSQL plans each once per connection, not once per batch size.
    # Again: everything is open already, nothing more is opened or written to the ledger.
    again = anomalies_evaluate_locked(order_ids=[one_id, *many_ids], now=now)
    assert (again.opened, again.resolved) == ((), ())
    assert Anomaly.objects.count() == 7


@pytest.mark.django_db
def test_a_flush_of_many_orders_adds_a_fixed_number_of_statements() -> None:
    def statements(names: list[str]) -> int:
        from django.db import transaction

        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            work = OrderWork()
            orders_upsert_locked([UpsertItem(unmapped(name)) for name in names], work=work)
            work.flush()
        return len(queries)

    assert statements(["f-0"]) == statements([f"f-{n}" for n in range(1, 21)])
    assert Anomaly.objects.filter(kind="unmapped_status").count() == 21


@pytest.mark.django_db
def test_a_threshold_edited_in_the_admin_goes_through_the_service(admin_client: Client) -> None:
    from django.urls import reverse

    from traceability.models import LedgerEvent

    setting = RuleSetting.objects.get(kind="sla_at_risk")
    url = reverse("admin:health_rulesetting_change", args=[setting.pk])
    bad = admin_client.post(url, {"enabled": "on", "params": '{"hours": -1}'})
    assert bad.status_code == 200  # the form again, with the error
    assert RuleSetting.objects.get(pk=setting.pk).params == {"hours": 4}
    response = admin_client.post(url, {"enabled": "on", "params": '{"hours": 8}'})
    assert response.status_code == 302
    assert RuleSetting.objects.get(pk=setting.pk).params == {"hours": 8}
    event = LedgerEvent.objects.get(action="health.rule_setting_updated")
    assert (event.actor, event.before, event.after) == (
        "admin", {"enabled": True, "params": {"hours": 4}},
        {"enabled": True, "params": {"hours": 8}},
    )  # fmt: skip
    assert setting.history.latest().history_user.get_username() == "admin"


@pytest.mark.django_db
def test_a_year_9999_ship_time_skips_the_rule_and_fails_nothing() -> None:
    from datetime import UTC, datetime

    from orderhub.models import StatusFact

    order = Order.objects.create(channel="shop-a", external_id="Y9999")
    StatusFact.objects.create(
        order=order, system="wms:wh", raw_status="SHIPPED", milestone="handed_over",
        occurred_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), outcome="skipped_ahead",
        dedupe_key="y",
    )  # fmt: skip
    result = anomalies_evaluate_locked(order_ids=[order.pk], now=timezone.now())
    assert (result.opened, result.resolved) == ((), ())


@pytest.mark.django_db
def test_rule_parameters_are_merged_once_per_rule_and_channel() -> None:
    from health.selectors import rule_config_load
    from health.services import rule_override_set

    rule_override_set(kind="ghost_shipment", channel="shop-b", params={"hours": 12}, user=None)
    config = rule_config_load()
    first = config.params_for("ghost_shipment", "shop-a")
    assert config.params_for("ghost_shipment", "shop-a") is first
    assert dict(first) == {
        "hours": 24, "lead_hours": 2, "courier_systems": ["kuaidi100", "track17", "aftership"],
    }  # fmt: skip
    assert config.params_for("ghost_shipment", "shop-b")["hours"] == 12
    with pytest.raises(TypeError):
        first["hours"] = 1  # type: ignore[index]  # shared by the batch: read-only
