"""The ten-point self-check on constructed data: each item passing and its failing twin, the
score, the JSON API (staff only) and the page, with bounded queries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone, translation
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels_app import journal
from channels_app.models import (
    ChannelAccount,
    InboundMessage,
    OutboxEntry,
    OutboxStatus,
    PollState,
)
from health.models import Anomaly
from orderhub.choices import FactOutcome, Milestone
from orderhub.models import Order, StatusFact
from orderhub.staff import selfcheck
from tests.factories import OrderFactory
from traceability.models import LedgerSeal
from traceability.services import ledger_append, ledger_seal_and_checkpoint

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def own_files(settings: SettingsWrapper, tmp_path: Path) -> Path:
    """A ledger key, a checkpoint folder and a journal folder of the test's own."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    return tmp_path


def message(account: ChannelAccount, received_at: datetime, key: str = "d-1") -> InboundMessage:
    return InboundMessage.objects.create(
        account=account, delivery_id=key, dedupe_key=key, body=b"{}", payload=b"{}",
        body_sha256="0" * 64, received_at=received_at, next_attempt_at=received_at,
    )  # fmt: skip


def anomaly(order: Order, kind: str, *, opened: datetime, detected_after: float, **extra: Any):
    return Anomaly.objects.create(
        kind=kind, order=order, subject_key=f"order:{order.pk}:{Anomaly.objects.count()}",
        opened_at=opened, evidence_at=opened - timedelta(seconds=detected_after), **extra,
    )  # fmt: skip


# --- 1. channels ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_channels_delivering_passes_when_every_enabled_account_delivered_within_the_hour() -> None:
    shop = ChannelAccount.objects.create(kind="shopify", code="shop-a")
    pulled = ChannelAccount.objects.create(kind="amazon", code="amz-a")
    ChannelAccount.objects.create(kind="youzan", code="old-shop", enabled=False)
    message(shop, NOW - timedelta(minutes=5))
    PollState.objects.create(account=pulled, last_finished_at=NOW - timedelta(minutes=59))
    assert selfcheck.check_channels_delivering(NOW) == (
        True,
        "2 of 2 delivering",
        "amz-a: last delivery 59 min ago; shop-a: last delivery 5 min ago",
    )


@pytest.mark.django_db
def test_channels_delivering_fails_for_a_silent_or_flagged_account() -> None:
    shop = ChannelAccount.objects.create(kind="shopify", code="shop-a")
    silent = ChannelAccount.objects.create(kind="amazon", code="amz-a")
    flagged = ChannelAccount.objects.create(kind="douyin", code="dy-a", needs_attention=True)
    message(shop, NOW - timedelta(minutes=5))
    message(silent, NOW - timedelta(minutes=61), key="d-2")
    message(flagged, NOW - timedelta(minutes=1), key="d-3")
    assert selfcheck.check_channels_delivering(NOW) == (
        False,
        "1 of 3 delivering",
        "amz-a: last delivery 61 min ago; dy-a: last delivery 60 s ago (needs attention); "
        "shop-a: last delivery 5 min ago",
    )


@pytest.mark.django_db
def test_channels_delivering_fails_with_no_account() -> None:
    assert selfcheck.check_channels_delivering(NOW)[0] is False


# --- 2. vocabulary ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_status_vocabulary_counts_unmapped_statuses_and_open_anomalies() -> None:
    order = OrderFactory.create()
    StatusFact.objects.create(
        order=order, system="shopify:shop-a", raw_status="paid", milestone=Milestone.PAID,
        occurred_at=NOW, dedupe_key="a", outcome=FactOutcome.ADVANCED,
    )  # fmt: skip
    assert selfcheck.check_status_vocabulary(NOW) == (
        True,
        "0 unmapped statuses, 0 open unmapped-status anomalies",
        "every stored status has a mapping",
    )
    StatusFact.objects.create(
        order=order, system="wms:WH-SH", raw_status="HELD", occurred_at=NOW, dedupe_key="b",
        outcome=FactOutcome.UNMAPPED,
    )  # fmt: skip
    anomaly(order, "unmapped_status", opened=NOW, detected_after=1)
    assert selfcheck.check_status_vocabulary(NOW) == (
        False,
        "1 unmapped statuses, 1 open unmapped-status anomalies",
        "wms:WH-SH “HELD”",
    )


# --- 3. detection, 4. manual share ------------------------------------------------------------


@pytest.mark.django_db
def test_detection_time_is_the_mean_delay_of_the_last_seven_days() -> None:
    order = OrderFactory.create()
    anomaly(order, "sync_lag", opened=NOW - timedelta(hours=1), detected_after=100)
    anomaly(order, "ghost_shipment", opened=NOW - timedelta(hours=2), detected_after=400)
    anomaly(order, "clock_mismatch", opened=NOW - timedelta(days=8), detected_after=9000)
    assert selfcheck.check_detection_time(NOW) == (
        True,
        "250.0 s on average",
        "2 anomalies opened in the last 7 days",
    )
    anomaly(order, "tracking_stalled", opened=NOW - timedelta(hours=3), detected_after=700)
    assert selfcheck.check_detection_time(NOW) == (
        False,
        "400.0 s on average",
        "3 anomalies opened in the last 7 days",
    )


@pytest.mark.django_db
def test_detection_time_without_anomalies_has_nothing_to_measure() -> None:
    assert selfcheck.check_detection_time(NOW) == (
        False,
        "nothing to measure",
        "no anomaly opened in the last 7 days",
    )


@pytest.mark.django_db
def test_manual_intervention_is_the_share_resolved_by_a_person() -> None:
    order = OrderFactory.create()
    person = User.objects.create_user("ops")
    for number in range(20):
        anomaly(
            order, "sync_lag", opened=NOW - timedelta(hours=2), detected_after=1,
            resolved_at=NOW - timedelta(hours=1), resolution="auto",
            subject_type=f"t{number}",
        )  # fmt: skip
    assert selfcheck.check_manual_intervention(NOW) == (
        True,
        "0.0% resolved by a person",
        "0 of 20 anomalies resolved in the last 7 days",
    )
    anomaly(
        order, "ghost_shipment", opened=NOW - timedelta(hours=2), detected_after=1,
        resolved_at=NOW - timedelta(hours=1), resolution="manual", resolved_by=person,
    )  # fmt: skip
    assert selfcheck.check_manual_intervention(NOW) == (
        True,
        "4.8% resolved by a person",
        "1 of 21 anomalies resolved in the last 7 days",
    )
    anomaly(
        order, "clock_mismatch", opened=NOW - timedelta(hours=2), detected_after=1,
        resolved_at=NOW - timedelta(hours=1), resolution="manual", resolved_by=person,
    )  # fmt: skip
    assert selfcheck.check_manual_intervention(NOW) == (
        False,
        "9.1% resolved by a person",
        "2 of 22 anomalies resolved in the last 7 days",
    )


# --- 5. trace time ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_trace_time_traces_the_latest_orders_now() -> None:
    orders = OrderFactory.create_batch(6)
    passed, value, evidence = selfcheck.check_trace_time(NOW)
    assert passed is True
    assert value.startswith("slowest 0.")
    traced = [part.split(":")[0] for part in evidence.split("; ")]
    assert traced == [f"order #{order.pk}" for order in reversed(orders[1:])]


@pytest.mark.django_db
def test_trace_time_fails_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    OrderFactory.create()
    monkeypatch.setattr(selfcheck, "TRACE_MAX_SECONDS", 0.0)  # the limit, not the measurement
    assert selfcheck.check_trace_time(NOW)[0] is False


# --- 6. sync delay ----------------------------------------------------------------------------


def received_fact(order: Order, key: str, lag: float, system: str = "wms:WH-SH") -> None:
    StatusFact.objects.create(
        order=order, system=system, raw_status="PACKED", milestone=Milestone.PICKED_PACKED,
        occurred_at=NOW - timedelta(hours=1, seconds=lag), received_at=NOW - timedelta(hours=1),
        dedupe_key=key,
    )  # fmt: skip


@pytest.mark.django_db
def test_sync_delay_is_the_p95_of_facts_and_acknowledged_write_backs() -> None:
    order = OrderFactory.create()
    for number in range(20):
        received_fact(order, f"k{number}", lag=10.0)
    received_fact(order, "seed", lag=100_000.0, system="seed:wms:WH-SH")  # never counted
    assert selfcheck.check_sync_delay(NOW) == (
        True,
        "p95 10.0 s",
        "facts received: p95 10.0 s over 20",
    )
    account = ChannelAccount.objects.create(kind="shopify", code="shop-a")
    entry = OutboxEntry.objects.create(
        account=account, order=order, action="ship_confirm", milestone=Milestone.HANDED_OVER,
        idempotency_key="w-1", next_attempt_at=NOW, status=OutboxStatus.ACKNOWLEDGED,
    )  # fmt: skip
    OutboxEntry.objects.filter(pk=entry.pk).update(
        created_at=NOW - timedelta(minutes=10), acknowledged_at=NOW - timedelta(minutes=8)
    )
    assert selfcheck.check_sync_delay(NOW) == (
        False,
        "p95 120.0 s",
        "facts received: p95 10.0 s over 20; write-backs acknowledged: p95 120.0 s over 1",
    )


@pytest.mark.django_db
def test_sync_delay_without_data_has_nothing_to_measure() -> None:
    assert selfcheck.check_sync_delay(NOW)[:2] == (False, "nothing to measure")


# --- 7. customer lookup -----------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_lookup_needs_the_route_and_phone_tails() -> None:
    OrderFactory.create_batch(19, phone_tail="1234")
    OrderFactory.create(phone_tail="")
    assert selfcheck.check_customer_lookup(NOW) == (
        True,
        "95.0% of orders can be looked up",
        "/o/; 19 of the latest 20 orders have a phone tail",
    )
    OrderFactory.create(phone_tail="12")
    assert selfcheck.check_customer_lookup(NOW) == (
        False,
        "90.5% of orders can be looked up",
        "/o/; 19 of the latest 21 orders have a phone tail",
    )


# --- 8. rules editable ------------------------------------------------------------------------


@pytest.mark.django_db
def test_rules_editable_needs_a_group_of_staff_who_are_not_superusers() -> None:
    User.objects.create_superuser("root")
    assert selfcheck.check_rules_editable(NOW) == (
        False,
        "0 group(s), 0 business user(s) may edit rules",
        "no group holds the permission to change rule settings",
    )
    analysts = Group.objects.create(name="analysts")
    analysts.permissions.add(
        Permission.objects.get(content_type__app_label="health", codename="change_rulesetting")
    )
    assert selfcheck.check_rules_editable(NOW)[0] is False  # a group with nobody in it
    User.objects.create_user("away", is_staff=True, is_active=False).groups.add(analysts)
    User.objects.create_user("li", is_staff=True).groups.add(analysts)
    assert selfcheck.check_rules_editable(NOW) == (
        True,
        "1 group(s), 1 business user(s) may edit rules",
        "analysts: 1",
    )


# --- 9. audit trail ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_trail_checks_the_newest_checkpoint_signature_head_and_age() -> None:
    assert selfcheck.check_audit_trail(timezone.now()) == (
        False,
        "no signed checkpoint",
        "the ledger has never been checkpointed",
    )
    ledger_append(action="test.event", actor="test")
    ledger_seal_and_checkpoint(force_checkpoint=True)
    seq = LedgerSeal.objects.order_by("-seq").values_list("seq", flat=True).first()
    passed, value, evidence = selfcheck.check_audit_trail(timezone.now())
    assert (passed, value.split(" signed ")[0]) == (True, f"checkpoint #{seq}")
    assert evidence.startswith("signature valid; chain head matches; key ")
    later = timezone.now() + timedelta(hours=25)
    assert selfcheck.check_audit_trail(later)[0] is False  # not verified recently


@pytest.mark.django_db
def test_audit_trail_fails_when_the_checkpoint_was_signed_by_another_key(
    settings: SettingsWrapper,
) -> None:
    ledger_append(action="test.event", actor="test")
    ledger_seal_and_checkpoint(force_checkpoint=True)
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(other).decode()
    passed, _value, evidence = selfcheck.check_audit_trail(timezone.now())
    assert passed is False
    assert evidence.startswith("signature INVALID; chain head matches")


# --- 10. emergency intake ---------------------------------------------------------------------


@pytest.mark.django_db
def test_emergency_intake_needs_a_writable_journal_within_its_limits(
    settings: SettingsWrapper, own_files: Path
) -> None:
    assert selfcheck.check_emergency_intake(NOW) == (
        True,
        "0 record(s) waiting, oldest 0 s",
        "journal folder writable; limits 1000 records, 300 s",
    )
    settings.JOURNAL_ALARM_RECORDS = 1
    for _number in range(2):
        journal.journal_append(
            code="shop-a", body=b"{}", headers={}, query={}, received_at=NOW, verified=True
        )
    assert selfcheck.check_emergency_intake(NOW + timedelta(seconds=30)) == (
        False,
        "2 record(s) waiting, oldest 30 s",
        "journal folder writable; limits 1 records, 300 s",
    )


@pytest.mark.django_db
def test_emergency_intake_is_not_ready_past_its_share_of_the_journal_size_limit(
    settings: SettingsWrapper, own_files: Path
) -> None:
    journal.journal_append(
        code="shop-a", body=b"{}", headers={}, query={}, received_at=NOW, verified=True
    )
    used = journal.journal_status_read(journal.journal_dir()).bytes
    settings.JOURNAL_MAX_BYTES = used  # full: more than 80 % of the limit
    assert selfcheck.check_emergency_intake(NOW) == (
        False,
        "1 record(s) waiting, oldest 0 s",
        f"journal folder writable; limits 1000 records, 300 s; {used} of {used} bytes used",
    )
    settings.JOURNAL_MAX_BYTES = used * 2  # 50 %: ready
    assert selfcheck.check_emergency_intake(NOW)[0] is True


@pytest.mark.django_db
def test_emergency_intake_fails_when_the_journal_folder_cannot_be_written(
    settings: SettingsWrapper, own_files: Path
) -> None:
    blocked = own_files / "blocked"
    blocked.write_text("a file where the journal's folder should be")
    settings.JOURNAL_DIR = str(blocked / "journal")
    assert selfcheck.check_emergency_intake(NOW) == (
        False,
        "0 record(s) waiting, oldest 0 s",
        "journal folder NOT writable; limits 1000 records, 300 s",
    )


# --- the whole check, the API and the page -----------------------------------------------------


@pytest.mark.django_db
def test_self_check_scores_the_passed_items_and_says_below_six_needs_action() -> None:
    result = selfcheck.self_check_run(now=NOW)
    assert [item.key for item in result.items] == [key for key, _check in selfcheck.CHECKS]
    assert len(result.items) == 10
    # Empty database: vocabulary, manual share and the journal pass; nothing else can.
    assert [item.key for item in result.items if item.passed] == [
        "status_vocabulary", "manual_intervention", "emergency_intake",
    ]  # fmt: skip
    assert (result.score, result.needs_action) == (3, True)


@pytest.mark.django_db
def test_self_check_api_is_for_staff_with_a_token(django_assert_max_num_queries: Any) -> None:
    OrderFactory.create_batch(3)
    staff = User.objects.create_user("ops", is_staff=True)
    clerk = User.objects.create_user("clerk")
    api = APIClient()
    assert api.get("/api/v1/self-check/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=clerk).key}")
    assert api.get("/api/v1/self-check/").status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    with django_assert_max_num_queries(60):
        response = api.get("/api/v1/self-check/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"score", "items"}
    assert len(body["items"]) == 10
    assert all(
        set(item) == {"key", "title", "passed", "value", "evidence"} for item in body["items"]
    )
    assert body["score"] == sum(item["passed"] for item in body["items"])


@pytest.mark.django_db
def test_self_check_queries_do_not_grow_with_the_data(django_assert_num_queries: Any) -> None:
    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            selfcheck.self_check_run(now=NOW)
        return len(captured.captured_queries)

    ChannelAccount.objects.create(kind="shopify", code="shop-a")
    OrderFactory.create_batch(selfcheck.TRACE_SAMPLE)  # the trace sample is full from here
    few = queries()
    for number in range(5):
        account = ChannelAccount.objects.create(kind="shopify", code=f"shop-{number + 2}")
        message(account, NOW, key=f"m{number}")
        order = OrderFactory.create()
        anomaly(order, "sync_lag", opened=NOW, detected_after=3)
    assert queries() == few
    with django_assert_num_queries(few):
        selfcheck.self_check_run(now=NOW)


@pytest.mark.django_db
def test_self_check_page_shows_the_score_for_staff(client: Client) -> None:
    assert client.get("/self-check/")["Location"] == "/admin/login/?next=/self-check/"
    client.force_login(User.objects.create_user("ops", is_staff=True))
    page = client.get("/en/self-check/").content.decode()
    assert '<strong id="self-check-score">3/10</strong>' in page
    assert "Below 6: needs action." in page
    assert page.count('class="item passed"') == 3
    assert page.count('class="item failed"') == 7
