"""``drill_run``: one bounded fault while signed webform deliveries go to a real intake.

The intake is a gunicorn on a free 127.0.0.1 port whose database (and broker) connections go
through a ``FaultProxy``, so the fault reaches only the drill's intake: the embedded
PostgreSQL and Redis keep serving everyone else. A third of the deliveries go before the fault,
a third during it, a third after the restore; then the drill waits until every delivery
answered 2xx is stored and the journal is empty, processes the inbox, and counts.

Faults implemented: ``database`` (the intake's database connections refused and reset: the
journal path), ``redis`` (the intake's broker connections refused: intake must not care) and
``worker`` (a Celery worker processing the inbox is killed with SIGKILL mid-run, then a new
one started: its claims expire and the new one processes every message once).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection

from channels_app.adapters.webform.mapping import sign
from channels_app.drill.proxy import FaultProxy
from channels_app.journal import journal_status_read
from channels_app.models import ChannelAccount, InboundMessage, InboxStatus
from channels_app.services import channel_account_create
from channels_app.services.processing import inbox_drain
from orderhub.models import Order, StatusFact

FAULTS = ("database", "redis", "worker")
DRAIN_TIMEOUT_SECONDS = 120.0


class DrillError(Exception):
    pass


@dataclass
class DrillReport:
    fault: str
    sent: int = 0
    answered_2xx: int = 0
    answered_other: dict[int, int] = field(default_factory=dict)
    stored: int = 0
    processed: int = 0
    duplicated: int = 0
    lost: int = 0
    drain_seconds: float = 0.0
    fault_p99_ms: float = 0.0
    fault_max_ms: float = 0.0
    normal_rate: float = 0.0
    fault_rate: float = 0.0

    def lines(self) -> list[str]:
        other = ", ".join(f"{k}: {v}" for k, v in sorted(self.answered_other.items())) or "none"
        return [
            f"drill {self.fault}",
            f"sent {self.sent}",
            f"answered 2xx {self.answered_2xx} (other: {other})",
            f"stored {self.stored}",
            f"processed {self.processed}",
            f"duplicated {self.duplicated}",
            f"lost {self.lost}",
            f"time to drain {self.drain_seconds:.2f} s",
            f"answer during the fault p99 {self.fault_p99_ms:.1f} ms "
            f"max {self.fault_max_ms:.1f} ms",
            f"rate before the fault {self.normal_rate:.0f}/s during {self.fault_rate:.0f}/s",
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_proxy() -> tuple[FaultProxy, str]:
    params = connection.settings_dict
    host = params["HOST"] or params.get("OPTIONS", {}).get("host", "")
    port = int(params["PORT"] or 5432)
    if host.startswith("/"):
        proxy = FaultProxy(target_unix=f"{host}/.s.PGSQL.{port}")
    else:
        proxy = FaultProxy(target_host=host or "127.0.0.1", target_port=port)
    proxy_port = proxy.start()
    user = params["USER"] or "postgres"
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    return proxy, f"postgresql://{user}{password}@127.0.0.1:{proxy_port}/{params['NAME']}"


def _redis_proxy() -> tuple[FaultProxy, str]:
    url = urlparse(settings.REDIS_URL)
    proxy = FaultProxy(target_host=url.hostname or "127.0.0.1", target_port=url.port or 6379)
    proxy_port = proxy.start()
    return proxy, f"redis://127.0.0.1:{proxy_port}{url.path or '/0'}"


class IntakeServer:
    """A gunicorn serving the intake, in its own process group (stopped by its pid)."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.port = _free_port()
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "orderhub.wsgi", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers), "--log-level", "warning"],
            cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DrillError(f"the intake exited with {self.process.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise DrillError("the intake did not start")

    def worker_pids(self) -> list[int]:
        result = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return [int(pid) for pid in result.stdout.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class _Worker:
    """A Celery worker on the drill's own queue, fed ``channels.inbox_drain`` by a kicker."""

    def __init__(self, env: dict[str, str], queue: str, log_path: Path) -> None:
        self.env, self.queue, self.log_path = env, queue, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.kicking = threading.Event()

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orderhub", "worker", "--queues", self.queue,
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"{self.queue}-{time.time_ns()}@%h"],
            cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while b"ready." not in self.log_path.read_bytes()[-4000:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise DrillError("the drill's worker did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.kicking.clear()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kick_forever(self) -> None:
        from orderhub.celery import app

        self.kicking.set()
        while self.kicking.is_set():
            app.send_task("channels.inbox_drain", queue=self.queue, expires=10)
            time.sleep(0.3)


def _body(code: str, number: int) -> bytes:
    return json.dumps(
        {
            "external_id": f"{code}-{number}",
            "status": "placed",
            "status_time": datetime.now(UTC).isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def webform_deliver(port: int, code: str, secret: str, number: int) -> tuple[str, int, float]:
    body = _body(code, number)
    timestamp = str(int(time.time()))
    delivery = f"{code}-d{number}"
    headers = {
        "Content-Type": "application/json",
        "X-OrderHub-Timestamp": timestamp,
        "X-OrderHub-Signature": sign(secret, timestamp, body),
        "X-OrderHub-Delivery": delivery,
    }
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", f"/hooks/{code}/", body=body, headers=headers)
        status = conn.getresponse().status
        conn.close()
    except OSError:
        status = 0
    return delivery, status, (time.perf_counter() - started) * 1000


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def drill_run(
    *,
    fault: str,
    deliveries: int,
    concurrency: int = 4,
    workers: int = 2,
    fault_seconds: float = 0.0,
    say: Callable[[str], None] = lambda line: None,
) -> DrillReport:
    """Run one drill and return its figures. Leaves the drill's account (disabled-free) behind."""
    if fault not in FAULTS:
        raise DrillError(f"unknown fault {fault!r}; implemented: {', '.join(FAULTS)}")
    code = f"drill-{fault}-{secrets.token_hex(3)}"
    secret = secrets.token_urlsafe(24)
    channel_account_create(
        kind="webform", code=code, options={}, secrets={"hmac_secret": secret}, source="drill"
    )
    work_dir = Path(tempfile.mkdtemp(prefix="drill-", dir=settings.VAR_DIR))
    journal_dir = work_dir / "journal"
    db_proxy, database_url = database_proxy()
    redis_proxy, redis_url = _redis_proxy()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, JOURNAL_DIR=str(journal_dir),
        DJANGO_SETTINGS_MODULE="orderhub.settings", PYTHONUNBUFFERED="1",
        DATABASE_CONNECT_TIMEOUT="2",
    )  # fmt: skip
    env.setdefault("DEBUG", "true")
    intake = IntakeServer(env, workers, work_dir / "intake.log")
    worker: _Worker | None = None
    if fault == "worker":
        worker_env = {
            **env, "REDIS_URL": settings.REDIS_URL, "CELERY_DEFAULT_QUEUE": f"{code}-q",
            "INBOX_LEASE_SECONDS": "5",
        }  # fmt: skip
        worker = _Worker(worker_env, f"{code}-q", work_dir / "worker.log")
    report = DrillReport(fault=fault)
    results: list[tuple[str, int, float]] = []
    try:
        intake.wait_ready()
        if worker is not None:
            worker.start()
            threading.Thread(target=worker.kick_forever, daemon=True).start()
        third = max(1, deliveries // 3)
        phases = (third, third, deliveries - 2 * third)
        number = 0
        with ThreadPoolExecutor(max_workers=concurrency) as pool:

            def send(count: int) -> tuple[list[tuple[str, int, float]], float]:
                nonlocal number
                started = time.perf_counter()
                batch = list(
                    pool.map(
                        lambda n: webform_deliver(intake.port, code, secret, n),
                        range(number, number + count),
                    )
                )
                number += count
                return batch, time.perf_counter() - started

            before, seconds = send(phases[0])
            report.normal_rate = len(before) / seconds if seconds else 0.0
            say(f"before the fault: {len(before)} sent")
            proxy = db_proxy if fault == "database" else redis_proxy
            if worker is None:
                proxy.block()
                say(f"fault {fault}: connections refused")
            during, seconds = send(phases[1])
            if worker is not None:
                worker.kill()
                say("fault worker: the worker killed with SIGKILL")
            if fault_seconds:
                time.sleep(fault_seconds)
            report.fault_rate = len(during) / seconds if seconds else 0.0
            latencies = [ms for _d, _s, ms in during]
            report.fault_p99_ms = _percentile(latencies, 0.99)
            report.fault_max_ms = max(latencies, default=0.0)
            if worker is not None:
                worker.start()
            proxy.unblock()
            restored = time.monotonic()
            say("restored")
            after, _seconds = send(phases[2])
            results = before + during + after
        report.sent = len(results)
        accepted = {delivery for delivery, status, _ms in results if 200 <= status < 300}
        report.answered_2xx = len(accepted)
        for _delivery, status, _ms in results:
            if not 200 <= status < 300:
                report.answered_other[status] = report.answered_other.get(status, 0) + 1
        account = ChannelAccount.objects.get(code=code)
        deadline = restored + DRAIN_TIMEOUT_SECONDS
        while True:
            stored = set(
                InboundMessage.objects.filter(account=account).values_list("delivery_id", flat=True)
            )
            journal_empty = journal_status_read(journal_dir).records == 0
            processed = worker is None or not (
                InboundMessage.objects.filter(account=account)
                .exclude(status=InboxStatus.PROCESSED)
                .exists()
            )
            if (accepted <= stored and journal_empty and processed) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        report.drain_seconds = time.monotonic() - restored
        if worker is None:
            inbox_drain(limit=100, budget_seconds=60)
        messages = InboundMessage.objects.filter(account=account)
        report.stored = messages.count()
        report.processed = messages.filter(status=InboxStatus.PROCESSED).count()
        facts = StatusFact.objects.filter(order__channel=code).count()
        orders = Order.objects.filter(channel=code).count()
        # Redeliveries counted by the inbox, rows beyond one per delivery, facts recorded twice.
        report.duplicated = (
            sum(messages.values_list("duplicate_count", flat=True))
            + (report.stored - len(stored))
            + (facts - orders)
        )
        report.lost = len(accepted - stored)
    finally:
        if worker is not None:
            worker.stop()
        intake.stop()
        db_proxy.stop()
        redis_proxy.stop()
    if report.lost == 0 and journal_status_read(journal_dir).records == 0:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        say(f"kept for inspection: {work_dir.name}/ under the var folder")
    return report
