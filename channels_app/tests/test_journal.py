"""The emergency intake journal: a real intake whose database is down answers 2xx and fsyncs;
the replay stores each delivery exactly once, through kill -9 of the web worker and of the
replayer; a forged delivery journaled meanwhile ends in quarantine with its reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from channels_app import journal
from channels_app.drill.proxy import FaultProxy
from channels_app.drill.runner import IntakeServer, database_proxy, webform_deliver
from channels_app.journal import JournalBusy, journal_append, journal_status_read, records_decode
from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.services import channel_account_create
from channels_app.services import journal as journal_service
from channels_app.services.journal import delivery_receive, journal_replay
from conftest import subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "drill-secret-1"


@pytest.fixture
def journal_dir(tmp_path: Path, settings: Any) -> Path:
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    return Path(settings.JOURNAL_DIR)


@pytest.fixture
def shop() -> ChannelAccount:
    return channel_account_create(
        kind="webform", code="site", options={}, secrets={"hmac_secret": SECRET}
    )


@pytest.fixture
def down_intake(
    shop: ChannelAccount, journal_dir: Path, tmp_path: Path
) -> Iterator[tuple[IntakeServer, FaultProxy]]:
    """A gunicorn intake (one worker) whose database connections go through a proxy."""
    proxy, url = database_proxy()
    env = subprocess_env(DATABASE_URL=url, JOURNAL_DIR=str(journal_dir))
    server = IntakeServer(env, workers=1, log_path=tmp_path / "intake.log")
    try:
        server.wait_ready()
        yield server, proxy
    finally:
        server.stop()
        proxy.stop()


def _kill_intake(server: IntakeServer) -> None:
    """kill -9 the web worker and its master (answered, not yet replayed)."""
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def test_database_down_answers_2xx_fsyncs_and_replays_each_delivery_once(
    down_intake: tuple[IntakeServer, FaultProxy], shop: ChannelAccount, journal_dir: Path
) -> None:
    server, proxy = down_intake
    port = server.port
    assert webform_deliver(port, "site", SECRET, 0)[1] == 200  # the worker reads the account
    channel_account_create(kind="webform", code="late", options={}, secrets={"hmac_secret": "k2"})
    proxy.block()
    answers = [webform_deliver(port, "site", SECRET, n)[1] for n in range(1, 6)]
    forged_cached = webform_deliver(port, "site", "not-the-secret", 6)[1]
    unseen = webform_deliver(port, "late", "k2", 7)[1]
    forged_unseen = webform_deliver(port, "late", "not-the-secret", 8)[1]
    assert (answers, forged_cached, unseen, forged_unseen) == ([200] * 5, 401, 200, 200)
    # Durable before the answer: every record is in the segment files on disk.
    on_disk = [
        record
        for path in sorted(journal_dir.glob("seg-*"))
        for record in records_decode(path.read_bytes())
    ]
    assert [(r.code, r.verified) for r in on_disk] == [
        *[("site", True)] * 5, ("site", False), ("late", False), ("late", False),
    ]  # fmt: skip
    assert InboundMessage.objects.count() == 1
    _kill_intake(server)
    proxy.unblock()

    result = journal_replay()
    again = journal_replay()

    assert (result.records, result.stored, result.quarantined, result.skipped) == (8, 6, 2, 0)
    assert (again.records, again.stored) == (0, 0)
    stored = InboundMessage.objects.order_by("received_at")
    assert [(m.account.code, m.delivery_id, m.duplicate_count) for m in stored] == [
        ("site", f"site-d{n}", 0) for n in range(6)
    ] + [("late", "late-d7", 0)]
    assert sorted(QuarantinedDelivery.objects.values_list("account_code", "reason")) == [
        ("late", "X-OrderHub-Signature does not match"),
        ("site", "X-OrderHub-Signature does not match"),
    ]
    assert list(journal_dir.glob("seg-*")) == []
    assert journal_status_read().records == 0


REPLAY_KILLED_AFTER = """
import os, signal, django
django.setup()
from channels_app.services import intake, journal
stored = 0
receive = intake.webhook_receive
def killed_after(**kwargs):
    global stored
    result = receive(**kwargs)
    stored += 1
    if stored == {after}:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
intake.webhook_receive = killed_after
journal.journal_replay()
"""


def _journal_deliveries(count: int) -> None:
    for n in range(count):
        body, headers = _signed(n)
        journal_append(
            code="site", body=body, headers=headers, query={},
            received_at=datetime.now(UTC), verified=True,
        )  # fmt: skip


def _signed(n: int) -> tuple[bytes, dict[str, str]]:
    from channels_app.adapters.webform.mapping import sign

    body = f'{{"external_id":"K-{n}","status":"placed","status_time":"2026-05-01T10:00:00+08:00"}}'
    timestamp = str(int(datetime.now(UTC).timestamp()))
    return body.encode(), {
        "x-orderhub-timestamp": timestamp,
        "x-orderhub-signature": sign(SECRET, timestamp, body.encode()),
        "x-orderhub-delivery": f"k-{n}",
        "content-type": "application/json",
    }


def test_replayer_killed_mid_replay_loses_and_duplicates_nothing(
    shop: ChannelAccount, journal_dir: Path
) -> None:
    _journal_deliveries(10)
    crashed = subprocess.run(
        [sys.executable, "-c", REPLAY_KILLED_AFTER.format(after=4)],
        env=subprocess_env(JOURNAL_DIR=str(journal_dir)), cwd=settings.BASE_DIR,
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    assert InboundMessage.objects.count() == 4
    assert [p.suffix for p in journal_dir.glob("seg-*")] == [".replay"]

    result = journal_replay()

    assert (result.records, result.skipped, result.stored) == (10, 4, 6)
    assert sorted(InboundMessage.objects.values_list("delivery_id", "duplicate_count")) == sorted(
        (f"k-{n}", 0) for n in range(10)
    )
    assert list(journal_dir.glob("seg-*")) == []


def test_a_second_replayer_is_refused_while_one_runs(
    shop: ChannelAccount, journal_dir: Path
) -> None:
    _journal_deliveries(1)
    with journal.replay_lock(), pytest.raises(JournalBusy):
        journal_replay()
    assert InboundMessage.objects.count() == 0
    assert journal_replay().stored == 1


def test_journal_write_failure_answers_503_and_keeps_nothing(
    shop: ChannelAccount, tmp_path: Path
) -> None:
    """The database down (connections refused) and the journal unwritable: 503, nothing kept."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proxy, url = database_proxy()
    env = subprocess_env(DATABASE_URL=url, JOURNAL_DIR=str(blocker / "journal"))
    server = IntakeServer(env, workers=1, log_path=tmp_path / "intake.log")
    try:
        server.wait_ready()
        assert webform_deliver(server.port, "site", SECRET, 0)[1] == 200
        proxy.block()
        answers = [webform_deliver(server.port, "site", SECRET, n)[1] for n in (1, 2)]
    finally:
        server.stop()
        proxy.stop()
    assert answers == [503, 503]
    assert list(InboundMessage.objects.values_list("delivery_id", flat=True)) == ["site-d0"]
    assert not (blocker / "journal").exists()


def test_a_full_journal_tries_the_database_it_had_skipped(
    shop: ChannelAccount, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the journal-only window (the database was down a moment ago) a delivery the
    journal cannot take goes to the database after all: it is back, so the answer is 200."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.JOURNAL_DIR = str(blocker / "journal")
    monkeypatch.setattr(journal_service._state, "down_until", float("inf"))  # the window
    body, headers = _signed(1)
    response = delivery_receive(
        code="site", body=body, headers=headers, query={}, received_at=datetime.now(UTC)
    )
    assert (response.status, response.body) == (200, b'{"ok":true}')
    assert list(InboundMessage.objects.values_list("delivery_id", flat=True)) == ["k-1"]
    assert journal_service._state.down_until == 0.0  # the window closed by the answer
