"""The ledger chain on PostgreSQL: sealing, tamper detection, concurrency, append-only."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from conftest import BASE_DIR, database_url_for_subprocess, subprocess_env
from health.models import RuleSetting
from orderhub.choices import Milestone
from orderhub.domain import NormalizedLine, NormalizedOrder, StatusFactIn
from orderhub.services import order_transition, order_upsert, status_fact_record
from traceability import checkpoints
from traceability.chain import GENESIS_HASH
from traceability.models import LedgerEvent, LedgerSeal
from traceability.services import (
    ledger_append,
    ledger_checkpoint_write,
    ledger_seal,
    ledger_seal_and_checkpoint,
)
from traceability.verify import ledger_verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def fact(system: str, raw: str, milestone: str | None, minutes: int) -> StatusFactIn:
    return StatusFactIn(
        system=system,
        raw_status=raw,
        milestone=milestone,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def run_verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger_verify", "--no-progress", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def append_events(count: int) -> list[LedgerEvent]:
    ids = [
        ledger_append(action="test.event", actor="tester", order_id=1, subject_id=n, after={"n": n})
        for n in range(count)
    ]
    return list(LedgerEvent.objects.filter(pk__in=ids).order_by("pk"))


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """What a superuser can do behind the application's back: skip the triggers."""
    with connection.cursor() as cursor:
        # As if the sealing transaction had committed: its deferred checks are done.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
def test_full_life_of_an_order_produces_the_expected_ledger_events() -> None:
    # The order's own events: the consistency rules (health/tests) stay out of it.
    RuleSetting.objects.update(enabled=False)
    order = order_upsert(
        normalized=NormalizedOrder(
            channel="shopify-main",
            external_id="LIFE-1",
            buyer_name="李雷",
            receiver_phone="13900001234",
            total_amount=Decimal("88.00"),
            lines=(
                NormalizedLine(line_no=1, sku="SKU-1", quantity=1, unit_price=Decimal("88.00")),
            ),
            facts=(fact("shopify:main", "paid", Milestone.PAID, 1),),
        ),
        source="shopify:main",
    )
    status_fact_record(
        order_id=order.pk, fact=fact("erp:main", "已审核", Milestone.STOCK_LOCKED, 2)
    )
    status_fact_record(
        order_id=order.pk, fact=fact("wms:WH-SH", "PACKED", Milestone.PICKED_PACKED, 3)
    )
    order_transition(order_id=order.pk, target=Milestone.WAYBILL_ISSUED, source="tms")
    status_fact_record(order_id=order.pk, fact=fact("courier:SF", "揽收", Milestone.COLLECTED, 5))
    status_fact_record(order_id=order.pk, fact=fact("courier:SF", "签收", Milestone.DELIVERED, 9))
    status_fact_record(order_id=order.pk, fact=fact("shopify:main", "paid", Milestone.PAID, 1))

    events = [
        (e.action, e.source_system, e.before.get("status"), e.after.get("status"))
        for e in LedgerEvent.objects.filter(order_id=order.pk).order_by("id")
    ]
    assert events == [
        ("order.created", "shopify:main", None, "placed"),
        ("order.transition", "shopify:main", "placed", "paid"),
        ("fact.recorded", "shopify:main", "placed", "paid"),
        ("order.transition", "erp:main", "paid", "stock_locked"),
        ("fact.recorded", "erp:main", "paid", "stock_locked"),
        ("order.transition", "wms:WH-SH", "stock_locked", "warehouse_accepted"),
        ("order.transition", "wms:WH-SH", "warehouse_accepted", "picked_packed"),
        ("fact.recorded", "wms:WH-SH", "stock_locked", "picked_packed"),
        ("order.transition", "tms", "picked_packed", "waybill_issued"),
        ("order.transition", "courier:SF", "waybill_issued", "handed_over"),
        ("order.transition", "courier:SF", "handed_over", "collected"),
        ("fact.recorded", "courier:SF", "waybill_issued", "collected"),
        ("order.transition", "courier:SF", "collected", "delivered"),
        ("fact.recorded", "courier:SF", "collected", "delivered"),
    ]
    # The duplicate "paid" fact at the end changed nothing, so it wrote nothing.
    result = ledger_seal()
    assert (result.sealed, result.head_seq) == (14, 14)
    assert list(LedgerSeal.objects.order_by("seq").values_list("event__action", flat=True))[:3] == [
        "order.created", "order.transition", "fact.recorded",
    ]  # fmt: skip
    assert run_verify()[0] == 0


@pytest.mark.django_db
def test_seal_chains_events_in_id_order_and_is_idempotent() -> None:
    events = append_events(5)
    first = ledger_seal()
    second = ledger_seal()
    seals = list(LedgerSeal.objects.order_by("seq"))
    assert (first.sealed, first.head_seq, second.sealed, second.head_seq) == (5, 5, 0, 5)
    assert [s.event_id for s in seals] == [e.pk for e in events]
    assert seals[0].prev_hash == GENESIS_HASH
    assert [s.prev_hash for s in seals[1:]] == [s.hash for s in seals[:-1]]
    assert second.head_hash == seals[-1].hash


@pytest.mark.django_db
def test_verify_passes_on_an_intact_chain_with_checkpoints(ledger_settings: Path) -> None:
    append_events(30)
    ledger_seal_and_checkpoint(force_checkpoint=True)
    append_events(20)
    ledger_seal()
    checkpoint = ledger_checkpoint_write(force=True)
    assert checkpoint is not None
    assert checkpoint.seq == 50
    # Both kept (forced), 50 also as the newest.
    assert [c.seq for c in checkpoints.checkpoint_list()] == [30, 50, 50]
    assert sorted(p.name for p in ledger_settings.glob("checkpoint-*")) == [
        "checkpoint-000000000030.json", "checkpoint-000000000050.json", "checkpoint-newest.json",
    ]  # fmt: skip
    code, out, err = run_verify()
    assert code == 0, err
    assert "OK: 50 events, head seq 50" in out
    assert "2 signed checkpoints matched" in out


@pytest.mark.django_db
def test_modified_event_is_detected_at_its_seq() -> None:
    events = append_events(10)
    ledger_seal()
    tamper(
        "UPDATE traceability_ledgerevent SET after = %s WHERE id = %s",
        [json.dumps({"n": 999}), events[6].pk],
    )
    code, _out, err = run_verify()
    assert code == 1
    assert f"BROKEN at seq 7 (event {events[6].pk}): hash does not match" in err
    assert "6 events verified before the break" in err


@pytest.mark.django_db
def test_modified_actor_is_detected_at_its_seq() -> None:
    events = append_events(4)
    ledger_seal()
    tamper(
        "UPDATE traceability_ledgerevent SET actor = 'someone else' WHERE id = %s", [events[0].pk]
    )
    code, _out, err = run_verify()
    assert (code, f"BROKEN at seq 1 (event {events[0].pk}): hash does not match" in err) == (
        1,
        True,
    )


@pytest.mark.django_db
def test_deleted_event_is_detected_at_its_seq() -> None:
    events = append_events(10)
    ledger_seal()
    tamper("DELETE FROM traceability_ledgerevent WHERE id = %s", [events[3].pk])
    code, _out, err = run_verify()
    assert code == 1
    assert f"BROKEN at seq 4 (event {events[3].pk}): event missing" in err


@pytest.mark.django_db
def test_deleted_event_with_its_seal_is_detected_as_a_gap() -> None:
    events = append_events(10)
    ledger_seal()
    tamper("DELETE FROM traceability_ledgerseal WHERE event_id = %s", [events[4].pk])
    tamper("DELETE FROM traceability_ledgerevent WHERE id = %s", [events[4].pk])
    code, _out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 5 (no event): sequence gap" in err


@pytest.mark.django_db
def test_reordered_events_are_detected_at_the_first_moved_seq() -> None:
    events = append_events(10)
    ledger_seal()
    # Swap the places of the events sealed at seq 3 and seq 8.
    tamper("UPDATE traceability_ledgerseal SET event_id = -1 WHERE seq = 3")
    tamper("UPDATE traceability_ledgerseal SET event_id = %s WHERE seq = 8", [events[2].pk])
    tamper("UPDATE traceability_ledgerseal SET event_id = %s WHERE seq = 3", [events[7].pk])
    code, _out, err = run_verify()
    assert code == 1
    assert f"BROKEN at seq 3 (event {events[7].pk}): hash does not match" in err


@pytest.mark.django_db
def test_reordered_seal_rows_are_detected() -> None:
    append_events(10)
    ledger_seal()
    tamper("UPDATE traceability_ledgerseal SET seq = -5 WHERE seq = 5")
    tamper("UPDATE traceability_ledgerseal SET seq = 5 WHERE seq = 6")
    tamper("UPDATE traceability_ledgerseal SET seq = 6 WHERE seq = -5")
    code, _out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 5" in err
    assert "previous hash does not match" in err


@pytest.mark.django_db
def test_rewritten_chain_is_caught_by_the_signed_checkpoint() -> None:
    """A forger who edits an event and recomputes every later hash still meets the checkpoint."""
    events = append_events(6)
    ledger_seal_and_checkpoint(force_checkpoint=True)
    tamper(
        "UPDATE traceability_ledgerevent SET after = '{\"n\": 42}' WHERE id = %s", [events[5].pk]
    )
    tamper("DELETE FROM traceability_ledgerseal WHERE seq = 6")
    ledger_seal()  # re-seals the edited event at seq 6 with a fresh, consistent hash
    code, _out, err = run_verify()
    assert code == 1
    assert f"BROKEN at seq 6 (event {events[5].pk}): signed checkpoint names another head" in err


@pytest.mark.django_db
def test_truncated_chain_end_is_caught_by_the_signed_checkpoint() -> None:
    events = append_events(5)
    ledger_seal_and_checkpoint(force_checkpoint=True)
    tamper("DELETE FROM traceability_ledgerseal WHERE seq >= 4")
    tamper("DELETE FROM traceability_ledgerevent WHERE id >= %s", [events[3].pk])
    code, _out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 4 (no event): chain ends before a signed checkpoint" in err


@pytest.mark.django_db
def test_forged_checkpoint_signature_is_rejected(ledger_settings: Path) -> None:
    append_events(3)
    ledger_seal_and_checkpoint(force_checkpoint=True)
    path = ledger_settings / "checkpoint-000000000003.json"
    data = json.loads(path.read_text())
    data["head_hash"] = "f" * 64
    path.chmod(0o644)
    path.write_text(json.dumps(data))
    code, _out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 3 (no event): checkpoint signature invalid" in err


@pytest.mark.django_db
def test_triggers_refuse_update_delete_and_truncate_for_ordinary_sessions() -> None:
    from django.db import DatabaseError, transaction

    event = append_events(1)[0]
    ledger_seal()
    statements = [
        "UPDATE traceability_ledgerevent SET actor = 'x'",
        "DELETE FROM traceability_ledgerevent",
        "UPDATE traceability_ledgerseal SET hash = 'x'",
        "DELETE FROM traceability_ledgerseal",
    ]
    for statement in statements:
        with (
            pytest.raises(DatabaseError, match="the ledger is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    event.refresh_from_db()
    assert event.actor == "tester"
    assert LedgerSeal.objects.count() == 1


APP_ROLE = "orderhub_ledger_app_test"
REFUSED = "the ledger is append-only"


@pytest.mark.django_db(transaction=True)
def test_application_role_cannot_update_delete_or_truncate_the_ledger() -> None:
    """A real non-superuser role, granted what the application needs, connected as itself."""
    append_events(2)
    ledger_seal()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
        cursor.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        cursor.execute(
            f"GRANT SELECT, INSERT ON traceability_ledgerevent, traceability_ledgerseal "
            f"TO {APP_ROLE}"
        )
        cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    url = database_url_for_subprocess().replace("postgres@", f"{APP_ROLE}@", 1)
    outcomes: dict[str, str] = {}
    try:
        with psycopg.connect(url, autocommit=True) as app:
            app.execute(
                "INSERT INTO traceability_ledgerevent (created_at, actor, action, subject_type, "
                'subject_id, source_system, before, after, "references") '
                "VALUES (now(), 'app', 'test.insert', '', '', '', '{}', '{}', '{}')"
            )
            for name, statement in {
                "update": "UPDATE traceability_ledgerevent SET actor = 'x'",
                "delete": "DELETE FROM traceability_ledgerevent",
                "truncate": "TRUNCATE traceability_ledgerevent CASCADE",
                "update_seal": "UPDATE traceability_ledgerseal SET hash = 'x'",
                "delete_seal": "DELETE FROM traceability_ledgerseal",
            }.items():
                try:
                    app.execute(statement)
                    outcomes[name] = "allowed"
                except psycopg.errors.InsufficientPrivilege as exc:
                    outcomes[name] = type(exc).__name__
            # Even if someone grants the privileges back, the triggers still refuse.
            with connection.cursor() as cursor:
                cursor.execute(
                    "GRANT UPDATE, DELETE, TRUNCATE ON traceability_ledgerevent, "
                    f"traceability_ledgerseal TO {APP_ROLE}"
                )
            for name, statement in {
                "update_granted": "UPDATE traceability_ledgerevent SET actor = 'x'",
                "delete_granted": "DELETE FROM traceability_ledgerevent",
                "truncate_granted": "TRUNCATE traceability_ledgerevent CASCADE",
            }.items():
                try:
                    app.execute(statement)
                    outcomes[name] = "allowed"
                except psycopg.errors.InsufficientPrivilege as exc:
                    outcomes[name] = str(exc).split("\n")[0]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {APP_ROLE}")
            cursor.execute(f"DROP ROLE {APP_ROLE}")
    assert outcomes == {
        "update": "InsufficientPrivilege",
        "delete": "InsufficientPrivilege",
        "truncate": "InsufficientPrivilege",
        "update_seal": "InsufficientPrivilege",
        "delete_seal": "InsufficientPrivilege",
        "update_granted": f"{REFUSED}: UPDATE on traceability_ledgerevent refused",
        "delete_granted": f"{REFUSED}: DELETE on traceability_ledgerevent refused",
        "truncate_granted": f"{REFUSED}: TRUNCATE on traceability_ledgerevent refused",
    }
    assert LedgerEvent.objects.count() == 3
    assert set(LedgerEvent.objects.values_list("actor", flat=True)) == {"tester", "app"}


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writer_processes_leave_a_valid_chain() -> None:
    per_writer = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "traceability.tests.ledger_writer", str(n), str(per_writer)],
            cwd=BASE_DIR,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    # Seal while they write: late commits below sealed ids must still be chained once.
    runs = 0
    while any(w.poll() is None for w in writers):
        ledger_seal_and_checkpoint(force_checkpoint=True)
        runs += 1
    results = [(w.wait(), w.stderr.read().decode()[-2000:] if w.stderr else "") for w in writers]
    assert [code for code, _ in results] == [0] * 8, results
    ledger_seal_and_checkpoint(force_checkpoint=True)
    total = 8 * per_writer
    assert LedgerEvent.objects.count() == total
    assert LedgerSeal.objects.count() == total
    assert sorted(LedgerSeal.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    report = ledger_verify(public_key=checkpoints.public_key())
    assert (report.ok, report.events_checked, report.unsealed) == (True, total, 0)
    assert report.checkpoints_checked >= 1
    assert runs >= 1
