"""Kingdee K/3 intermediate-table polling through a second database connection."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import connection

from channels_app.models import InboundMessage, PollState
from channels_app.pull.services import account_poll, poll_lease_acquire
from channels_app.sandbox_api.erp import erp_database_create, erp_row_insert
from channels_app.sandbox_api.testing import kingdee_account
from channels_app.services import inbox_process_pending
from orderhub.models import Order, StatusFact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def erp_dsn() -> str:
    from conftest import database_url_for_subprocess

    dsn = erp_database_create(
        server_dsn=database_url_for_subprocess(), name=f"{connection.settings_dict['NAME']}_erp"
    )
    with psycopg.connect(dsn, autocommit=True) as erp:
        erp.execute("TRUNCATE t_orderhub_order_sync, t_orderhub_writeback RESTART IDENTITY")
        erp.execute("ALTER SEQUENCE t_orderhub_rowversion RESTART")
    return dsn


def _keys(account_id: int) -> list[str]:
    return sorted(
        InboundMessage.objects.filter(account_id=account_id).values_list("dedupe_key", flat=True)
    )


def test_poll_pages_through_the_table_once(erp_dsn: str) -> None:
    with psycopg.connect(erp_dsn, autocommit=True) as erp:
        for n in range(12):
            erp_row_insert(erp, channel="shop-a", bill_no=f"A{n:03d}", status="PICKING")
    account = kingdee_account(erp_dsn, page_size="5")

    result = account_poll(account_id=account.pk)

    assert (result.outcome, result.pages, result.messages) == ("ok", 3, 12)
    assert _keys(account.pk) == sorted(f"{n}@{n}" for n in range(1, 13))
    while inbox_process_pending(limit=100):
        pass
    assert Order.objects.filter(channel="shop-a").count() == 12
    fact = StatusFact.objects.get(order__external_id="A000")
    assert (fact.system, fact.raw_status, fact.milestone) == (
        "kingdee_k3:erp-k3",
        "PICKING",
        "warehouse_accepted",
    )
    # The re-read overlap window brings the same row versions back: nothing new is stored.
    again = account_poll(account_id=account.pk)
    assert (again.outcome, again.messages) == ("ok", 0)
    assert InboundMessage.objects.filter(account=account, duplicate_count__gt=0).count() == 0


def test_a_row_committed_late_with_an_older_time_is_not_missed(erp_dsn: str) -> None:
    account = kingdee_account(erp_dsn)
    without_overlap = kingdee_account(erp_dsn, code="erp-no-overlap", overlap_seconds="0")
    slow = psycopg.connect(erp_dsn)  # a transaction that commits late
    erp_row_insert(slow, channel="shop-a", bill_no="LATE", status="PACKED")
    with psycopg.connect(erp_dsn, autocommit=True) as erp:
        erp_row_insert(erp, channel="shop-a", bill_no="EARLY", status="PACKED")

    first = account_poll(account_id=account.pk)
    assert account_poll(account_id=without_overlap.pk).messages == 1
    slow.commit()
    slow.close()
    second = account_poll(account_id=account.pk)

    assert (first.messages, second.messages) == (1, 1)
    assert _keys(account.pk) == ["1@1", "2@2"]  # LATE has fid 1 but committed second
    # The same two polls without an overlap window lose the late row for good.
    assert account_poll(account_id=without_overlap.pk).messages == 0
    assert _keys(without_overlap.pk) == ["2@2"]


def test_an_updated_row_is_a_new_version(erp_dsn: str) -> None:
    account = kingdee_account(erp_dsn)
    with psycopg.connect(erp_dsn, autocommit=True) as erp:
        fid = erp_row_insert(erp, channel="shop-a", bill_no="U1", status="PACKED")
        account_poll(account_id=account.pk)
        erp.execute(
            "UPDATE t_orderhub_order_sync SET fstatus = 'WAYBILL', flogisticsno = 'SF1',"
            " fmodifytime = clock_timestamp(), frowversion = nextval('t_orderhub_rowversion')"
            " WHERE fid = %s",
            [fid],
        )
    assert account_poll(account_id=account.pk).messages == 1
    assert _keys(account.pk) == ["1@1", "1@2"]


def test_stopping_between_pages_resumes_where_it_stopped(erp_dsn: str) -> None:
    with psycopg.connect(erp_dsn, autocommit=True) as erp:
        for n in range(7):
            erp_row_insert(erp, channel="shop-a", bill_no=f"R{n}", status="PICKING")
    account = kingdee_account(erp_dsn, page_size="3")

    first = account_poll(account_id=account.pk, max_pages=1)
    assert (first.outcome, first.messages) == ("partial", 3)
    assert PollState.objects.get(account=account).cursor["scan_fid"] == 3
    rest = account_poll(account_id=account.pk)

    assert (rest.outcome, rest.messages) == ("ok", 4)
    assert len(_keys(account.pk)) == 7


def test_a_held_lease_makes_the_poll_skip(erp_dsn: str) -> None:
    with psycopg.connect(erp_dsn, autocommit=True) as erp:
        erp_row_insert(erp, channel="shop-a", bill_no="L1", status="PICKING")
    account = kingdee_account(erp_dsn)
    assert poll_lease_acquire(account_id=account.pk, owner=uuid.uuid4().hex) == {}

    assert account_poll(account_id=account.pk, force=True).outcome == "skipped_locked"
    assert InboundMessage.objects.count() == 0


def test_unreachable_table_flags_the_account(erp_dsn: str) -> None:
    account = kingdee_account(erp_dsn, table="t_missing")
    assert account_poll(account_id=account.pk).outcome == "terminal_error"
    account.refresh_from_db()
    assert (account.needs_attention, account.attention_reason) == (
        True,
        "ERP table 't_missing' does not exist",
    )
