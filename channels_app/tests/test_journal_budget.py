"""``JOURNAL_DB_BUDGET_MS``: a database that accepts connections but does not answer (the fault
proxy holds the bytes) sends the delivery to the journal within the budget, whether the
intake was connecting or waiting on a connection it already had; without a budget it waits."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_app.drill.proxy import FaultProxy
from channels_app.drill.runner import IntakeServer, database_proxy, webform_deliver
from channels_app.journal import journal_status_read
from channels_app.models import ChannelAccount, InboundMessage
from channels_app.services import channel_account_create
from conftest import subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "budget-secret-1"
Intake = Callable[..., tuple[IntakeServer, FaultProxy]]


@pytest.fixture
def shop() -> ChannelAccount:
    return channel_account_create(
        kind="webform", code="site", options={}, secrets={"hmac_secret": SECRET}
    )


@pytest.fixture
def journal_dir(tmp_path: Path, settings: Any) -> Path:
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    return Path(settings.JOURNAL_DIR)


@pytest.fixture
def intake(shop: ChannelAccount, journal_dir: Path, tmp_path: Path) -> Iterator[Intake]:
    """A factory of gunicorn intakes (one worker) whose database goes through a proxy."""
    started: list[tuple[IntakeServer, FaultProxy]] = []

    def start(**env: str) -> tuple[IntakeServer, FaultProxy]:
        proxy, url = database_proxy()
        server = IntakeServer(
            subprocess_env(DATABASE_URL=url, JOURNAL_DIR=str(journal_dir), **env),
            workers=1, log_path=tmp_path / f"intake-{len(started)}.log",
        )  # fmt: skip
        started.append((server, proxy))
        server.wait_ready()
        return server, proxy

    try:
        yield start
    finally:
        for server, proxy in started:
            server.stop()
            proxy.stop()


def _stored_and_journaled() -> tuple[int, int]:
    return InboundMessage.objects.count(), journal_status_read().records


def _wait_replayed(expected: int) -> None:
    deadline = time.monotonic() + 30
    while _stored_and_journaled() != (expected, 0) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_hung_database_at_connect_is_left_for_the_journal_within_the_budget(
    intake: Intake,
) -> None:
    server, proxy = intake(JOURNAL_DB_BUDGET_MS="300")
    assert webform_deliver(server.port, "site", SECRET, 0)[1] == 200  # reads the account
    proxy.hold()
    _delivery, status, ms = webform_deliver(server.port, "site", SECRET, 1)
    assert status == 200
    assert 280 <= ms < 1500  # waited for the budget, not for libpq's 2 s connect timeout
    assert _stored_and_journaled() == (1, 1)
    proxy.unblock()
    _wait_replayed(2)
    assert _stored_and_journaled() == (2, 0)


def test_without_a_budget_the_connect_waits_for_the_connect_timeout(intake: Intake) -> None:
    server, proxy = intake(JOURNAL_DB_BUDGET_MS="0", DATABASE_CONNECT_TIMEOUT="2")
    assert webform_deliver(server.port, "site", SECRET, 0)[1] == 200
    proxy.hold()
    _delivery, status, ms = webform_deliver(server.port, "site", SECRET, 1)
    assert status == 200
    assert ms >= 1900
    proxy.unblock()
    _wait_replayed(2)
    assert _stored_and_journaled() == (2, 0)


def test_a_hung_database_on_an_open_connection_is_cut_at_the_budget(intake: Intake) -> None:
    """A persistent connection, then the server stops answering mid-store. The held bytes go
    through on release (the hung server resumes and may commit the store it was given): the
    replay finds it stored and stores nothing twice."""
    server, proxy = intake(JOURNAL_DB_BUDGET_MS="300", DATABASE_CONN_MAX_AGE="60")
    assert webform_deliver(server.port, "site", SECRET, 0)[1] == 200
    proxy.hold()
    _delivery, status, ms = webform_deliver(server.port, "site", SECRET, 1)
    assert status == 200
    assert 280 <= ms < 1500
    assert _stored_and_journaled() == (1, 1)
    proxy.unblock()
    _wait_replayed(2)
    assert _stored_and_journaled() == (2, 0)
    assert sorted(InboundMessage.objects.values_list("delivery_id", "duplicate_count")) == [
        ("site-d0", 0), ("site-d1", 0),
    ]  # fmt: skip


def test_without_a_budget_a_hung_open_connection_hangs_the_request(intake: Intake) -> None:
    server, proxy = intake(JOURNAL_DB_BUDGET_MS="0", DATABASE_CONN_MAX_AGE="60")
    assert webform_deliver(server.port, "site", SECRET, 0)[1] == 200
    proxy.hold()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    conn.request("POST", "/hooks/site/", body=b"{}", headers={"Content-Type": "application/json"})
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    proxy.unblock()
    assert InboundMessage.objects.count() == 1  # the unsigned one is never an inbound message
