"""Intake keeps the accounts it has read: a delivery costs one statement, and a disabled,
edited or re-keyed account takes effect with the very next delivery."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.services import channel_account_secrets_set
from channels_app.tests.conftest import hook_headers, order_body, sign
from channels_app.tests.test_intake import post


def body(n: int) -> bytes:
    return order_body({"id": f"C{n}", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})


@pytest.mark.django_db
def test_a_delivery_to_a_known_account_is_one_statement(
    client: Client, account: ChannelAccount
) -> None:
    assert post(client, body(1), hook_headers(body(1), delivery="1")).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert post(client, body(2), hook_headers(body(2), delivery="2")).status_code == 200
    statements = [query["sql"] for query in queries]
    assert len(statements) == 1
    assert statements[0].lstrip().startswith("WITH stored AS (")
    assert InboundMessage.objects.count() == 2


@pytest.mark.django_db
def test_disabling_an_account_refuses_the_next_delivery(
    client: Client, account: ChannelAccount
) -> None:
    assert post(client, body(1), hook_headers(body(1), delivery="1")).status_code == 200
    ChannelAccount.objects.filter(pk=account.pk).update(enabled=False)
    response = post(client, body(2), hook_headers(body(2), delivery="2"))
    assert response.status_code == 404
    assert list(QuarantinedDelivery.objects.values_list("reason", flat=True)) == [
        "account disabled"
    ]
    assert list(InboundMessage.objects.values_list("delivery_id", flat=True)) == ["1"]


@pytest.mark.django_db
def test_a_new_secret_takes_effect_with_the_next_delivery(
    client: Client, account: ChannelAccount
) -> None:
    assert post(client, body(1), hook_headers(body(1), delivery="1")).status_code == 200
    channel_account_secrets_set(account_id=account.pk, secrets={"secret": "rotated-key"})
    old = post(client, body(2), hook_headers(body(2), delivery="2"))
    new_headers = {"x-test-signature": sign(body(3), "rotated-key"), "x-test-delivery": "3"}
    new = post(client, body(3), new_headers)
    assert (old.status_code, new.status_code) == (401, 200)
    assert list(QuarantinedDelivery.objects.values_list("reason", flat=True)) == [
        "signature mismatch"
    ]
    assert list(InboundMessage.objects.order_by("id").values_list("delivery_id", flat=True)) == [
        "1",
        "3",
    ]


@pytest.mark.django_db
def test_a_deleted_account_is_unknown_at_once(client: Client, account: ChannelAccount) -> None:
    assert post(client, body(1), hook_headers(body(1), delivery="1")).status_code == 200
    InboundMessage.objects.all().delete()
    ChannelAccount.objects.filter(pk=account.pk).delete()
    response = post(client, body(2), hook_headers(body(2), delivery="2"))
    assert response.status_code == 404
    assert list(QuarantinedDelivery.objects.values_list("reason", flat=True)) == ["unknown account"]


@pytest.mark.django_db
def test_the_storing_statement_runs_prepared(client: Client, account: ChannelAccount) -> None:
    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0].lstrip()[:16] for row in cursor.fetchall()]

    # psycopg prepares a statement on its sixth run on a connection (prepare_threshold 5),
    # never with DATABASE_PREPARED_STATEMENTS=false (threshold None).
    enabled = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is not None
    for n in range(6):
        post(client, body(n), hook_headers(body(n), delivery=str(n)))
    assert ("WITH stored AS (" in prepared()) is enabled
    assert InboundMessage.objects.count() == 6
