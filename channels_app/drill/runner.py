"""``drill_run``: one bounded fault while signed webform deliveries go to a real intake.

The intake is a gunicorn on a free 127.0.0.1 port whose database (and broker) connections go
through a ``FaultProxy``, so the fault reaches only the drill's intake: the embedded
PostgreSQL and Redis keep serving everyone else. A third of the deliveries go before the fault,
a third during it, a third after the restore; then the drill waits until every delivery
answered 2xx is stored and the journal is empty, processes the inbox, and counts.

Faults implemented:

- ``database``: the intake's database connections refused and reset (the journal path);
- ``database-hung``: the intake's database connections accepted but never answered (the
  proxy holds the bytes): each store gives up within ``JOURNAL_DB_BUDGET_MS`` and journals;
- ``redis``: the intake's broker connections refused (intake must not care);
- ``worker``: a Celery worker processing the inbox is killed with SIGKILL mid-run, then a new
  one started (its claims expire and the new one processes every message once);
- ``sealer``: the ledger sealer (a Celery worker of its own fed the seal task) is killed with
  SIGKILL while it holds the sealer's lock (mid-seal), then restarted, while a worker
  processes the deliveries into orders; afterwards every ledger event of the drill's orders
  is sealed exactly once and ``ledger_verify`` (chain, the drill's checkpoints, replay) is
  clean;
- ``disk-full``: the database down as in ``database`` and the journal's disk full: a tmpfs
  of ``journal_bytes`` mounted over the journal folder in a user and mount namespace of the
  intake's own (``unshare``: the kernel answers ENOSPC), or, where user namespaces are not
  allowed, the journal's own ``JOURNAL_MAX_BYTES`` quota. The intake must answer 503 for what
  it cannot keep; those deliveries are sent again after the restore, as a platform retries.
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
from traceability import checkpoints
from traceability.models import LedgerEvent, LedgerSeal
from traceability.replay import ledger_replay
from traceability.statements import SEAL_LOCK_KEY
from traceability.verify import ledger_verify

FAULTS = ("database", "database-hung", "redis", "worker", "sealer", "disk-full")
DRAIN_TIMEOUT_SECONDS = 120.0
# The journal's room in the disk-full drill: a few records, then ENOSPC.
DISK_FULL_BYTES = 8192


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
    fault_p50_ms: float = 0.0
    normal_rate: float = 0.0
    fault_rate: float = 0.0
    redelivered: int = 0
    disk_full_by: str = ""
    ledger_events: int = 0
    ledger_sealed: int = 0
    ledger_double_sealed: int = 0
    ledger_verify: str = ""
    killed_mid_seal: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.duplicated or self.ledger_double_sealed) or (
            self.fault == "sealer"
            and (self.ledger_verify != "OK" or self.ledger_sealed != self.ledger_events)
        )

    def lines(self) -> list[str]:
        other = ", ".join(f"{k}: {v}" for k, v in sorted(self.answered_other.items())) or "none"
        extra: list[str] = []
        if self.fault == "disk-full":
            extra = [
                f"journal full by {self.disk_full_by}",
                f"sent again after the restore {self.redelivered}",
            ]
        if self.fault == "sealer":
            extra = [
                f"sealer killed mid-seal {'yes' if self.killed_mid_seal else 'no'}",
                f"ledger events {self.ledger_events} sealed {self.ledger_sealed} "
                f"double-sealed {self.ledger_double_sealed}",
                f"ledger_verify {self.ledger_verify}",
            ]
        return [
            f"drill {self.fault}",
            f"sent {self.sent}",
            f"answered 2xx {self.answered_2xx} (other: {other})",
            f"stored {self.stored}",
            f"processed {self.processed}",
            f"duplicated {self.duplicated}",
            f"lost {self.lost}",
            f"time to drain {self.drain_seconds:.2f} s",
            f"answer during the fault p50 {self.fault_p50_ms:.1f} ms "
            f"p99 {self.fault_p99_ms:.1f} ms max {self.fault_max_ms:.1f} ms",
            f"rate before the fault {self.normal_rate:.0f}/s during {self.fault_rate:.0f}/s",
            *extra,
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

    def __init__(
        self, env: dict[str, str], workers: int, log_path: Path, prefix: list[str] | None = None
    ) -> None:
        self.port = _free_port()
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "gunicorn", "orderhub.wsgi", "--bind",
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
    """A Celery worker on the drill's own queue, fed ``task`` (by name) by a kicker."""

    def __init__(
        self, env: dict[str, str], queue: str, log_path: Path, task: str = "channels.inbox_drain"
    ) -> None:
        self.env, self.queue, self.log_path, self.task = env, queue, log_path, task
        self.process: subprocess.Popen[bytes] | None = None
        self.kicking = threading.Event()

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        offset = log.tell()  # a restart looks for its own "ready.", not the first one's
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orderhub", "worker", "--queues", self.queue,
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"{self.queue}-{time.time_ns()}@%h"],
            cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while b"ready." not in self.log_path.read_bytes()[offset:]:
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
            app.send_task(self.task, queue=self.queue, expires=10)
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


def namespaces_allowed() -> bool:
    """Whether this user may make a user and mount namespace (``unshare``) and mount a tmpfs."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         "mount -t tmpfs -o size=4096 tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=4096 "
         "tmpfs /tmp"],
        capture_output=True, check=False, timeout=10,
    )  # fmt: skip
    return probe.returncode == 0


def _tmpfs_prefix(folder: Path, size: int) -> list[str]:
    """Run the command in a namespace of its own with a ``size``-byte tmpfs over ``folder``."""
    return [
        "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
        f'mount -t tmpfs -o size={size},mode=0700 tmpfs "$0" && exec "$@"', str(folder),
    ]  # fmt: skip


def _seal_lock_held() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            [SEAL_LOCK_KEY],
        )
        return bool(cursor.fetchone()[0])


def _kill_mid_seal(sealer: _Worker, timeout: float = 10.0) -> bool:
    """SIGKILL the sealer the moment it holds the sealer's lock; True if caught mid-seal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _seal_lock_held():
            sealer.kill()
            return True
        time.sleep(0.002)
    sealer.kill()
    return False


def _ledger_check(report: DrillReport, code: str, checkpoint_dir: Path) -> None:
    events = LedgerEvent.objects.filter(
        order_id__in=Order.objects.filter(channel=code).values("pk")
    )
    report.ledger_events = events.count()
    seals = LedgerSeal.objects.filter(event__in=events)
    report.ledger_sealed = seals.values("event_id").distinct().count()
    report.ledger_double_sealed = seals.count() - report.ledger_sealed
    chain = ledger_verify(public_key=checkpoints.public_key(), checkpoint_dir=checkpoint_dir)
    replay = ledger_replay()
    if chain.broken is not None:
        report.ledger_verify = f"BROKEN at {chain.broken.describe()}"
    elif replay.findings:
        report.ledger_verify = f"REPLAY {len(replay.findings)} disagreements"
    else:
        report.ledger_verify = "OK"


def _drill_unsealed(code: str) -> bool:
    return (
        LedgerEvent.objects.filter(order_id__in=Order.objects.filter(channel=code).values("pk"))
        .filter(seal__isnull=True)
        .exists()
    )


def drill_run(
    *,
    fault: str,
    deliveries: int,
    concurrency: int = 4,
    workers: int = 2,
    fault_seconds: float = 0.0,
    journal_bytes: int = DISK_FULL_BYTES,
    disk_full_by: str = "",
    say: Callable[[str], None] = lambda line: None,
) -> DrillReport:
    """Run one drill and return its figures. Leaves the drill's account (disabled-free) behind.

    ``disk_full_by`` (disk-full only): ``tmpfs`` or ``quota``; empty: tmpfs where allowed.
    """
    if fault not in FAULTS:
        raise DrillError(f"unknown fault {fault!r}; implemented: {', '.join(FAULTS)}")
    code = f"drill-{fault}-{secrets.token_hex(3)}"
    secret = secrets.token_urlsafe(24)
    channel_account_create(
        kind="webform", code=code, options={}, secrets={"hmac_secret": secret}, source="drill"
    )
    work_dir = Path(tempfile.mkdtemp(prefix="drill-", dir=settings.VAR_DIR))
    journal_dir = work_dir / "journal"
    journal_seen = journal_dir  # where this process reads the intake's journal
    checkpoint_dir = work_dir / "checkpoints"
    db_proxy, database_url = database_proxy()
    redis_proxy, redis_url = _redis_proxy()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, JOURNAL_DIR=str(journal_dir),
        DJANGO_SETTINGS_MODULE="orderhub.settings", PYTHONUNBUFFERED="1",
        DATABASE_CONNECT_TIMEOUT="2",
    )  # fmt: skip
    env.setdefault("DEBUG", "true")
    report = DrillReport(fault=fault)
    prefix: list[str] = []
    if fault == "disk-full":
        report.disk_full_by = disk_full_by or ("tmpfs" if namespaces_allowed() else "quota")
        if report.disk_full_by == "tmpfs":
            journal_dir.mkdir()
            prefix = _tmpfs_prefix(journal_dir, journal_bytes)
        else:
            env["JOURNAL_MAX_BYTES"] = str(journal_bytes)
    intake = IntakeServer(env, workers, work_dir / "intake.log", prefix=prefix)
    if prefix:
        # The tmpfs is only in the intake's namespace: read it through the process's root.
        journal_seen = Path(f"/proc/{intake.process.pid}/root") / journal_dir.relative_to("/")
    worker: _Worker | None = None
    sealer: _Worker | None = None
    if fault in ("worker", "sealer"):
        worker_env = {
            **env, "REDIS_URL": settings.REDIS_URL, "CELERY_DEFAULT_QUEUE": f"{code}-q",
            "INBOX_LEASE_SECONDS": "5", "LEDGER_SEAL_QUEUE": f"{code}-seal",
        }  # fmt: skip
        worker = _Worker(worker_env, f"{code}-q", work_dir / "worker.log")
    if fault == "sealer":
        sealer_env = {**worker_env, "LEDGER_CHECKPOINT_DIR": str(checkpoint_dir)}
        sealer = _Worker(
            sealer_env, f"{code}-seal", work_dir / "sealer.log", task="traceability.ledger_seal"
        )
    results: list[tuple[str, int, float]] = []
    try:
        intake.wait_ready()
        for process in (worker, sealer):
            if process is not None:
                process.start()
                threading.Thread(target=process.kick_forever, daemon=True).start()
        third = max(1, deliveries // 3)
        phases = (third, third, deliveries - 2 * third)
        number = 0
        with ThreadPoolExecutor(max_workers=concurrency) as pool:

            def send(numbers: list[int]) -> tuple[list[tuple[str, int, float]], float]:
                started = time.perf_counter()
                batch = list(
                    pool.map(lambda n: webform_deliver(intake.port, code, secret, n), numbers)
                )
                return batch, time.perf_counter() - started

            def send_next(count: int) -> tuple[list[tuple[str, int, float]], float]:
                nonlocal number
                numbers = list(range(number, number + count))
                number += count
                return send(numbers)

            before, seconds = send_next(phases[0])
            report.normal_rate = len(before) / seconds if seconds else 0.0
            say(f"before the fault: {len(before)} sent")
            proxy = redis_proxy if fault == "redis" else db_proxy
            if fault == "database-hung":
                proxy.hold()
                say("fault database-hung: connections accepted, nothing answered")
            elif fault in ("database", "redis", "disk-full"):
                proxy.block()
                say(f"fault {fault}: connections refused")
            killer: threading.Thread | None = None
            if sealer is not None:
                killer = threading.Thread(
                    target=lambda: setattr(report, "killed_mid_seal", _kill_mid_seal(sealer)),
                    daemon=True,
                )
                killer.start()
            during, seconds = send_next(phases[1])
            if worker is not None and fault == "worker":
                worker.kill()
                say("fault worker: the worker killed with SIGKILL")
            if killer is not None and sealer is not None:
                killer.join()
                say(
                    "fault sealer: the sealer killed with SIGKILL "
                    + (
                        "while holding the seal lock"
                        if report.killed_mid_seal
                        else "(not mid-seal)"
                    )
                )
            if fault_seconds:
                time.sleep(fault_seconds)
            report.fault_rate = len(during) / seconds if seconds else 0.0
            latencies = [ms for _d, _s, ms in during]
            report.fault_p50_ms = _percentile(latencies, 0.5)
            report.fault_p99_ms = _percentile(latencies, 0.99)
            report.fault_max_ms = max(latencies, default=0.0)
            if worker is not None and fault == "worker":
                worker.start()
            if sealer is not None:
                sealer.start()
            proxy.unblock()
            restored = time.monotonic()
            say("restored")
            after, _seconds = send_next(phases[2])
            results = before + during + after
        report.sent = number
        account = ChannelAccount.objects.get(code=code)

        def drained(accepted: set[str]) -> set[str]:
            """Wait until every accepted delivery is stored (and processed, and sealed) and
            the journal is empty; the deliveries stored."""
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while True:
                stored = set(
                    InboundMessage.objects.filter(account=account).values_list(
                        "delivery_id", flat=True
                    )
                )
                journal_empty = journal_status_read(journal_seen).records == 0
                processed = worker is None or not (
                    InboundMessage.objects.filter(account=account)
                    .exclude(status=InboxStatus.PROCESSED)
                    .exists()
                )
                sealed = sealer is None or not _drill_unsealed(code)
                done = accepted <= stored and journal_empty and processed and sealed
                if done or time.monotonic() > deadline:
                    return stored
                time.sleep(0.1)

        stored = drained({d for d, status, _ms in results if 200 <= status < 300})
        if fault == "disk-full":
            # The platform retries what was not answered 2xx, later: the journal has room again.
            again = [int(d.rsplit("-d", 1)[1]) for d, s, _ms in results if not 200 <= s < 300]
            report.redelivered = len(again)
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                results += list(
                    pool.map(lambda n: webform_deliver(intake.port, code, secret, n), again)
                )
        accepted = {delivery for delivery, status, _ms in results if 200 <= status < 300}
        report.answered_2xx = sum(1 for _d, s, _ms in results[: report.sent] if 200 <= s < 300)
        for _delivery, status, _ms in results[: report.sent]:
            if not 200 <= status < 300:
                report.answered_other[status] = report.answered_other.get(status, 0) + 1
        if report.redelivered:
            stored = drained(accepted)
        report.drain_seconds = time.monotonic() - restored
        if worker is None:
            inbox_drain(limit=100, budget_seconds=60)
        messages = InboundMessage.objects.filter(account=account)
        report.stored = messages.count()
        report.processed = messages.filter(status=InboxStatus.PROCESSED).count()
        facts = StatusFact.objects.filter(order__channel=code).count()
        orders = Order.objects.filter(channel=code).count()
        # Redeliveries counted by the inbox, rows beyond one per delivery, facts recorded twice.
        # (A disk-full drill sends again what was answered 503: never kept, so never a duplicate.)
        report.duplicated = (
            sum(messages.values_list("duplicate_count", flat=True))
            + (report.stored - len(stored))
            + (facts - orders)
        )
        report.lost = len(accepted - stored)
        if sealer is not None:
            _ledger_check(report, code, checkpoint_dir)
        journal_left = journal_status_read(journal_seen).records
    finally:
        for process in (worker, sealer):
            if process is not None:
                process.stop()
        intake.stop()
        db_proxy.stop()
        redis_proxy.stop()
    if not report.failed and journal_left == 0:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        say(f"kept for inspection: {work_dir.name}/ under the var folder")
    return report
