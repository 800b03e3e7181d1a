"""A worker killed in the middle of processing loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from django.utils import timezone

from channels_app.adapters.base import Verified
from channels_app.models import InboundMessage
from channels_app.services import (
    channel_account_create,
    inbound_message_store,
    inbox_process_pending,
)
from channels_app.tasks import inbox_drain_task
from orderhub.models import Order, StatusFact
from traceability.models import LedgerEvent

LEASE_SECONDS = "3"


def _store(account: Any, status: str, at: str) -> int:
    body = json.dumps({"external_id": "K1", "status": status, "status_time": at}).encode()
    verified = Verified(delivery_id=status, event_type="order", payload=body, response=None)  # type: ignore[arg-type]
    return inbound_message_store(
        account=account, verified=verified, body=body, headers={}, received_at=timezone.now()
    )[0]


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def short_lease() -> Iterator[None]:
    previous = os.environ.get("INBOX_LEASE_SECONDS")
    os.environ["INBOX_LEASE_SECONDS"] = LEASE_SECONDS
    yield
    if previous is None:
        os.environ.pop("INBOX_LEASE_SECONDS", None)
    else:
        os.environ["INBOX_LEASE_SECONDS"] = previous


def _kill_tree(pid: int) -> None:
    """SIGKILL the worker we started and its pool children (by pid)."""
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs([parent], timeout=10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_processing_loses_and_duplicates_nothing(
    short_lease: None, celery_worker_process: Any, tmp_path: Path
) -> None:
    from conftest import database_url_for_subprocess

    account = channel_account_create(
        kind="webform", code="wf", options={}, secrets={"hmac_secret": "k"}
    )
    _store(account, "placed", "2026-05-01T10:00:00+08:00")
    inbox_process_pending()
    order = Order.objects.get()
    message_id = _store(account, "paid", "2026-05-01T10:05:00+08:00")

    # Hold the order's row lock so the worker blocks inside its processing transaction.
    holder = psycopg.connect(database_url_for_subprocess())
    holder.execute("SELECT id FROM orderhub_order WHERE id = %s FOR UPDATE", [order.pk])
    inbox_drain_task.apply_async()
    probe = psycopg.connect(database_url_for_subprocess(), autocommit=True)

    def worker_blocked() -> bool:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(row and row[0])

    _wait(worker_blocked, "the worker to block on the order lock")
    assert InboundMessage.objects.get(pk=message_id).status == "processing"
    assert celery_worker_process.process is not None
    _kill_tree(celery_worker_process.process.pid)
    holder.rollback()
    holder.close()
    _wait(lambda: not worker_blocked(), "the killed worker's transaction to end")

    # Nothing of the killed attempt survived.
    message = InboundMessage.objects.get(pk=message_id)
    assert (message.status, message.attempts) == ("processing", 1)
    assert Order.objects.get().status == "placed"
    assert StatusFact.objects.filter(raw_status="paid").count() == 0

    # A fresh worker takes the message over once the lease has expired.
    second = type(celery_worker_process)(celery_worker_process.queue, tmp_path / "second.log")
    second.start()
    try:
        deadline = time.monotonic() + 30
        while InboundMessage.objects.get(pk=message_id).status != "processed":
            assert time.monotonic() < deadline, "message was not taken over"
            inbox_drain_task.apply_async()
            time.sleep(1)
    finally:
        second.stop()
    probe.close()
    message = InboundMessage.objects.get(pk=message_id)
    assert (message.status, message.attempts) == ("processed", 2)
    assert Order.objects.get().status == "paid"
    assert StatusFact.objects.filter(raw_status="paid").count() == 1
    assert LedgerEvent.objects.filter(action="order.transition", order_id=order.pk).count() == 1
