"""The delivery engine: sends generated traffic to OrderHub and keeps the sender's ledger.

Shares are of all deliveries: ``duplicates`` (a third of them sent at the same moment as
the original, the rest later), ``bad_signatures`` (one byte of the body or signature
changed), ``hostile`` (correctly signed bodies that processing must refuse). Each order's
deliveries are shuffled (random reordering per order) and several orders are in flight at
once. Everything random comes from ``seed`` and ``run``; only the signing timestamps are the
real clock. ``run`` tells runs apart: orders, external ids and delivery ids of two runs with
different ``run`` values never coincide, so a second run is new traffic, not a replay of the
first (``manage.py sandbox`` picks a random one per start).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from channels_app.adapters.base import AccountConfig
from channels_app.sandbox import encoders
from channels_app.sandbox.accounts import private_key_for
from channels_app.sandbox.generator import generate_order


@dataclass(frozen=True, slots=True)
class Sent:
    kind: str
    code: str
    external_id: str
    category: str  # normal | duplicate | concurrent_duplicate | bad_signature | hostile:<variant>
    status: int  # 0 when the request itself failed
    elapsed_ms: float


@dataclass
class Ledger:
    """What was sent and what each order's final status must be."""

    sent: list[Sent] = field(default_factory=list)
    expected: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: Sent) -> None:
        with self.lock:
            self.sent.append(record)

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(record.category.split(":")[0] for record in self.sent)

    def statuses(self) -> Counter[int]:
        with self.lock:
            return Counter(record.status for record in self.sent)


@dataclass(frozen=True, slots=True)
class RunConfig:
    url: str = "http://127.0.0.1:8000"
    rate: float = 200.0
    count: int = 1000
    duplicates: float = 0.3
    bad_signatures: float = 0.02
    hostile: float = 0.05
    seed: int = 1
    threads: int = 16
    max_seconds: float = 0.0  # 0 = no limit
    run: int = 0  # 0 <= run < 2**28; part of every order and delivery id


_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    session: requests.Session = _local.session
    return session


def _send(
    base: str, request: encoders.Request, barrier: threading.Barrier | None
) -> tuple[int, float]:
    if barrier is not None:
        # A late partner breaks the barrier: send anyway, it is still a duplicate.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)
    started = time.perf_counter()
    try:
        response = _session().post(
            base + request.path,
            params=request.query or None,
            data=request.body,
            headers=request.headers,
            timeout=30,
        )
        status = response.status_code
    except requests.RequestException:
        status = 0
    return status, (time.perf_counter() - started) * 1000


Job = list[tuple[str, str, str, str, encoders.Request]]  # kind, code, external id, category, req


def plan_jobs(accounts: list[AccountConfig], config: RunConfig, ledger: Ledger) -> Iterator[Job]:
    """Jobs to send, in order; a job of two is sent at the same moment (concurrent duplicate)."""
    rng = random.Random(config.seed + (config.run << 64))
    base_share = max(0.05, 1 - config.duplicates - config.bad_signatures - config.hostile)
    p_dup = config.duplicates / base_share
    p_bad = config.bad_signatures / base_share
    p_hostile = config.hostile / base_share
    keys = {a.code: private_key_for(a.code) for a in accounts if a.kind == "wechat_pay"}
    later: list[tuple[int, Job]] = []  # (due job index, job)
    emitted, number = 0, 0
    while config.count == 0 or emitted < config.count:
        account = accounts[number % len(accounts)]
        order = generate_order(account.kind, number, rng, datetime.now(UTC), run=config.run)
        number += 1
        ledger.expected[(account.code, order.external_id)] = order.final_milestone
        steps = list(range(len(order.steps)))
        rng.shuffle(steps)
        for step in steps:
            payload = encoders.PAYLOADS[account.kind](order, step)
            now = datetime.now(UTC)
            request = encoders.wrap(
                account, payload, sent_at=now, private_key=keys.get(account.code)
            )
            item = (account.kind, account.code, order.external_id, "normal", request)
            job: Job = [item]
            if rng.random() < p_dup:
                if rng.random() < 1 / 3:
                    job.append((*item[:3], "concurrent_duplicate", request))
                else:
                    later.append(
                        (emitted + rng.randint(1, 40), [(*item[:3], "duplicate", request)])
                    )
            if rng.random() < p_bad:
                bad = encoders.bad_signature(account.kind, request, rng.randint(0, 1))
                later.append((emitted + rng.randint(0, 10), [(*item[:3], "bad_signature", bad)]))
            if rng.random() < p_hostile:
                variant = rng.choice(encoders.HOSTILE_KINDS)
                marker = f"h{config.seed}-{config.run:x}-{number}-{step}-{rng.getrandbits(32):08x}"
                body = encoders.hostile_payload(account.kind, variant, marker, payload.data)
                hostile = encoders.Payload(body, marker, payload.event_type)
                bad_request = encoders.wrap(
                    account, hostile, sent_at=now, private_key=keys.get(account.code)
                )
                later.append(
                    (
                        emitted + rng.randint(0, 10),
                        [(account.kind, account.code, "", f"hostile:{variant}", bad_request)],
                    )
                )
            yield job
            emitted += len(job)
            due = [entry for entry in later if entry[0] <= emitted]
            later = [entry for entry in later if entry[0] > emitted]
            for _due, extra in due:
                yield extra
                emitted += len(extra)
    for _due, extra in later:
        yield extra


def run(
    accounts: list[AccountConfig],
    config: RunConfig,
    *,
    progress: Callable[[Ledger, float], None] | None = None,
) -> Ledger:
    """Send ``config.count`` deliveries (0 = forever) or until ``max_seconds``; the ledger."""
    ledger = Ledger()
    started = time.monotonic()
    next_report = started + 1
    interval = 1 / config.rate if config.rate > 0 else 0
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=config.threads) as pool:

        def submit(
            item: tuple[str, str, str, str, encoders.Request], barrier: threading.Barrier | None
        ) -> Future[None]:
            kind, code, external_id, category, request = item

            def task() -> None:
                status, elapsed = _send(config.url, request, barrier)
                ledger.add(Sent(kind, code, external_id, category, status, elapsed))

            return pool.submit(task)

        sent = 0
        for job in plan_jobs(accounts, config, ledger):
            barrier = threading.Barrier(len(job)) if len(job) > 1 else None
            pending.extend(submit(item, barrier) for item in job)
            sent += len(job)
            now = time.monotonic()
            if config.max_seconds and now - started > config.max_seconds:
                break
            if interval:
                delay = started + sent * interval - now
                if delay > 0:
                    time.sleep(delay)
            if progress and now >= next_report:
                progress(ledger, now - started)
                next_report = now + 1
            if len(pending) > 5000:
                pending = [future for future in pending if not future.done()]
        for future in pending:
            future.result()
    if progress:
        progress(ledger, time.monotonic() - started)
    return ledger
