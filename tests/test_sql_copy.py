"""COPY writes and id reservation (``orderhub.sql``), and the rows a flush writes with them."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.types.json import Jsonb
from pytest_django.fixtures import Settings as SettingsWrapper

from orderhub.choices import FactOutcome, Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.models import Order, OrderLine, StatusFact
from orderhub.services import order_transition, order_upsert
from orderhub.sql import ids_reserve_many, rows_copy
from tests.factories import ProductFactory
from traceability.models import LedgerEvent
from traceability.services import LedgerEventIn, ledger_append_many, ledger_seal_and_checkpoint

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=SHANGHAI)
# Text COPY's own escapes must not leak: tab, newline, carriage return, backslashes, the
# two characters "\N" (NULL in COPY's text format), and text beyond the BMP.
AWKWARD = "a\tb\nc\rd \\ e \\\\ f \\N g 中文 😀 \\t"


def _scratch_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE copy_scratch (id bigserial PRIMARY KEY, label text UNIQUE, "
            "note text, data jsonb, at timestamptz, amount numeric(12, 2), flag boolean)"
        )


def _scratch_rows() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, label, note, data, at, amount, flag FROM copy_scratch ORDER BY id"
        )
        # Django's connection reads jsonb as its text (JSONField decodes it): decode it here.
        return [
            (*row[:3], None if row[3] is None else json.loads(row[3]), *row[4:])
            for row in cursor.fetchall()
        ]


@pytest.mark.django_db
def test_rows_copy_writes_exact_values_nulls_json_times_and_awkward_text() -> None:
    _scratch_table()
    rows = [
        (
            AWKWARD,
            AWKWARD,
            Jsonb({"k": AWKWARD, "n": [1, 2.5, None], "中": True}),
            T0,
            Decimal("12.34"),
            True,
        ),
        ("second", None, None, None, None, None),
        ("third", "", Jsonb([]), datetime(2000, 1, 1, tzinfo=UTC), Decimal("-0.50"), False),
    ]
    with connection.cursor() as cursor:
        written = rows_copy(
            cursor, "copy_scratch", ["label", "note", "data", "at", "amount", "flag"], rows
        )
    assert written == 3
    stored = _scratch_rows()
    ids = [row[0] for row in stored]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert [row[1:] for row in stored] == [
        (
            AWKWARD,
            AWKWARD,
            {"k": AWKWARD, "n": [1, 2.5, None], "中": True},
            T0,
            Decimal("12.34"),
            True,
        ),
        ("second", None, None, None, None, None),
        ("third", "", [], datetime(2000, 1, 1, tzinfo=UTC), Decimal("-0.50"), False),
    ]
    # The same instant whatever the zone it was written in.
    assert stored[0][4].astimezone(UTC) == datetime(2026, 11, 20, 2, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.django_db
def test_rows_copy_of_no_rows_writes_nothing() -> None:
    _scratch_table()
    with connection.cursor() as cursor:
        assert rows_copy(cursor, "copy_scratch", ["label"], []) == 0
    assert _scratch_rows() == []


@pytest.mark.django_db
def test_a_refused_row_refuses_the_whole_copy_as_an_integrity_error() -> None:
    _scratch_table()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        rows_copy(cursor, "copy_scratch", ["label"], [("same",), ("other",), ("same",)])
    assert _scratch_rows() == []


@pytest.mark.django_db
def test_rows_copy_is_seen_as_one_statement_by_query_capture_and_execute_wrappers() -> None:
    _scratch_table()
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with (
        CaptureQueriesContext(connection) as captured,
        connection.execute_wrapper(wrapper),
        connection.cursor() as cursor,
    ):
        rows_copy(cursor, "copy_scratch", ["label", "note"], [("x", "y"), ("z", None)])
    assert seen == ['COPY "copy_scratch" ("label", "note") FROM STDIN']
    assert [query["sql"] for query in captured.captured_queries] == seen


@pytest.mark.django_db
def test_ids_reserve_many_takes_fresh_ascending_ids_of_each_sequence_in_one_statement() -> None:
    _scratch_table()
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        scratch, facts, none = ids_reserve_many(
            cursor, [("copy_scratch", "id", 3), ("orderhub_statusfact", "id", 2), ("x", "id", 0)]
        )
    assert len(captured.captured_queries) == 1
    assert none == []
    assert len(scratch) == 3
    assert scratch == sorted(scratch)
    assert len(set(scratch)) == 3
    assert len(facts) == 2
    assert facts == sorted(facts)
    # The sequence moved past them: the next row gets a higher id.
    with connection.cursor() as cursor:
        rows_copy(cursor, "copy_scratch", ["label"], [("next",)])
    assert _scratch_rows()[0][0] > scratch[-1]


@pytest.mark.django_db
def test_ids_reserve_many_of_nothing_runs_no_statement() -> None:
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        assert ids_reserve_many(cursor, [("orderhub_order", "id", 0)]) == [[]]
    assert captured.captured_queries == []


def _normalized(external_id: str, *facts: StatusFactIn) -> NormalizedOrder:
    return NormalizedOrder(
        channel="shopify:copy",
        external_id=external_id,
        buyer_name=AWKWARD,
        receiver_phone="13800138000",
        city="杭州市",
        total_amount=Decimal("42.10"),
        placed_at=T0,
        lines=(
            NormalizedLine(line_no=1, sku="SKU-KNOWN", quantity=2, unit_price=Decimal("9.90")),
            NormalizedLine(
                line_no=2, sku="SKU-NEW", quantity=1, unit_price=Decimal("22.30"), title=AWKWARD
            ),
        ),
        facts=facts,
    )


def _paid(minutes: int = 1) -> StatusFactIn:
    return StatusFactIn(
        system="shopify:copy",
        raw_status="paid",
        milestone=Milestone.PAID,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


HISTORY_OWN = {"history_id", "history_date", "history_change_reason", "history_type"}


def _history(order_id: int) -> list[dict[str, Any]]:
    return list(Order.history.filter(id=order_id).order_by("history_id").values())


@pytest.mark.django_db
def test_a_created_order_is_written_with_its_lines_facts_history_and_ledger_events() -> None:
    product = ProductFactory.create(sku="SKU-KNOWN")
    order = order_upsert(normalized=_normalized("C-1", _paid()), source="shopify:copy")
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.buyer_name, stored.paid_at) == (
        Milestone.PAID, AWKWARD, T0 + timedelta(minutes=1),
    )  # fmt: skip
    assert stored.created_at == order.created_at
    assert stored.updated_at is not None
    assert list(
        OrderLine.objects.filter(order=order)
        .order_by("line_no")
        .values_list("line_no", "product_id", "sku", "title", "quantity", "unit_price", "amount")
    ) == [
        (1, product.pk, "SKU-KNOWN", "", 2, Decimal("9.90"), Decimal("19.80")),
        (2, None, "SKU-NEW", AWKWARD, 1, Decimal("22.30"), Decimal("22.30")),
    ]
    [fact] = StatusFact.objects.filter(order=order)
    assert (fact.outcome, fact.status_before, fact.status_after, fact.skipped) == (
        FactOutcome.ADVANCED, Milestone.PLACED, Milestone.PAID, [],
    )  # fmt: skip
    assert fact.occurred_at == T0 + timedelta(minutes=1)
    assert fact.note == ""
    history = _history(order.pk)
    assert [(h["history_type"], h["status"], h["history_change_reason"]) for h in history] == [
        ("+", Milestone.PLACED, "created from shopify:copy"),
        ("~", Milestone.PAID, f"fact {fact.pk} from shopify:copy: 'paid'"),
    ]
    assert [h["history_user_id"] for h in history] == [None, None]
    events = list(
        LedgerEvent.objects.filter(
            order_id=order.pk, action__in=["order.created", "order.transition", "fact.recorded"]
        ).order_by("id")
    )
    assert [e.action for e in events] == ["order.created", "order.transition", "fact.recorded"]
    assert events[0].after == {
        "channel": "shopify:copy", "external_id": "C-1", "status": "placed", "warehouse": "",
        "carrier": "", "tracking_number": "",
    }  # fmt: skip
    assert events[2].references == {
        "raw_status": "paid",
        "milestone": "paid",
        "occurred_at": (T0 + timedelta(minutes=1)).isoformat(),
        "skipped": [],
        "source_message_id": None,
    }
    assert len({e.created_at for e in events}) == 1


@pytest.mark.django_db
def test_history_rows_hold_what_simple_history_itself_records_for_the_same_order() -> None:
    user = User.objects.create_superuser("copy-clerk", password="x")
    order = order_upsert(normalized=_normalized("C-2"), source="shopify:copy")
    order_transition(order_id=order.pk, target=Milestone.PAID, user=user, reason="by hand")
    ours = _history(order.pk)[-1]
    # simple-history's own record of the same state: a plain save of the stored row.
    stored = Order.objects.get(pk=order.pk)
    stored._change_reason = "by hand"
    stored._history_user = user
    stored.save()
    theirs = _history(order.pk)[-1]
    assert theirs["history_id"] > ours["history_id"]
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if k not in HISTORY_OWN} == {
        k: v for k, v in theirs.items() if k not in HISTORY_OWN
    }
    assert (ours["history_type"], theirs["history_type"]) == ("~", "~")
    assert ours["history_change_reason"] == theirs["history_change_reason"] == "by hand"
    assert ours["history_user_id"] == theirs["history_user_id"] == user.pk
    assert ours["history_date"] <= theirs["history_date"]


@pytest.mark.django_db
def test_an_unchanged_order_writes_no_line_fact_history_or_ledger_row() -> None:
    order = order_upsert(normalized=_normalized("C-3", _paid()), source="shopify:copy")
    counts = (
        OrderLine.objects.count(),
        StatusFact.objects.count(),
        len(_history(order.pk)),
        LedgerEvent.objects.count(),
    )
    again = order_upsert(normalized=_normalized("C-3", _paid()), source="shopify:copy")
    assert again.pk == order.pk
    assert (
        OrderLine.objects.count(),
        StatusFact.objects.count(),
        len(_history(order.pk)),
        LedgerEvent.objects.count(),
    ) == counts
    assert counts[:3] == (2, 1, 2)


@pytest.fixture
def ledger_settings(settings: SettingsWrapper, tmp_path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


@pytest.mark.django_db
def test_events_appended_by_copy_keep_list_order_exact_json_and_verify(
    ledger_settings: Path,
) -> None:
    events = [
        LedgerEventIn(
            action="test.copy",
            actor="a" * 200,
            order_id=None if n == 1 else n,
            subject_type="thing",
            subject_id=n,
            source_system=AWKWARD,
            before=None,
            after={"text": AWKWARD, "n": n, "list": [n, "二"]},
            references={"nested": {"z": 1, "a": [True, None]}},
        )
        for n in range(3)
    ]
    ledger_append_many(events=events)
    stored = list(LedgerEvent.objects.filter(action="test.copy").order_by("id"))
    assert [(e.order_id, e.subject_id, e.actor) for e in stored] == [
        (0, "0", "a" * 150), (None, "1", "a" * 150), (2, "2", "a" * 150),
    ]  # fmt: skip
    assert [e.after for e in stored] == [
        {"text": AWKWARD, "n": n, "list": [n, "二"]} for n in range(3)
    ]
    assert all(e.before == {} and e.source_system == AWKWARD for e in stored)
    assert stored[0].references == {"nested": {"z": 1, "a": [True, None]}}
    ledger_seal_and_checkpoint(force_checkpoint=True)
    out, err = io.StringIO(), io.StringIO()
    call_command("ledger_verify", "--no-progress", stdout=out, stderr=err)
    assert "OK: 3 events, head seq 3" in out.getvalue(), err.getvalue()
