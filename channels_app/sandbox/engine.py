"""The delivery engine: sends generated traffic to OrderHub and keeps the sender's ledger.

Shares are of all deliveries: ``duplicates`` (a third of them sent at the same moment as
the original, the rest later), ``bad_signatures`` (one byte of the body or signature
changed), ``hostile`` (correctly signed bodies that processing must refuse). Each order's
deliveries are shuffled (random reordering per order) and several orders are in flight at
once. Everything random comes from ``seed`` and ``run``; only the signing timestamps are the
real clock. ``run`` tells runs apart: orders, external ids and delivery ids of two runs with
different ``run`` values never coincide, so a second run is new traffic, not a replay of the
first (``manage.py sandbox`` picks a random one per start). ``feedback`` is a share of the
orders that later get an after-sale (a return, a refund, a dispute or an arbitration) in
their platform's format (``channels_app.sandbox.feedback``), sent after the order's story.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import requests

from channels_app.adapters.base import AccountConfig
from channels_app.sandbox import encoders, faults
from channels_app.sandbox import feedback as feedback_traffic
from channels_app.sandbox.accounts import SystemAccounts, private_key_for
from channels_app.sandbox.faults import Story
from channels_app.sandbox.generator import (
    CATALOGUE,
    COURIER_KINDS,
    CourierEvent,
    SandboxOrder,
    SystemFact,
    courier_events,
    courier_kind_of,
    final_with_systems,
    generate_order,
    system_facts,
    warehouse_assortments,
    warehouse_of,
)

FACTS_PATH = "/api/v1/facts/"
STOCK_PATH = "/api/v1/stock/"
STOCK_ON_HAND = 100_000  # ample: the sandbox's orders never run a warehouse out


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
    # tracking number -> (channel code, external id, the courier stages sent for it)
    waybills: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)
    # (system account code, key) of every facts-API fact planned
    fact_keys: set[tuple[str, str]] = field(default_factory=set)
    # (fault, channel code, external id) of every fault injected
    faults: list[tuple[str, str, str]] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)  # of those orders
    # (channel code, feedback kind, platform id) -> the status its last message sets
    feedback: dict[tuple[str, str, str], str] = field(default_factory=dict)
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

    def groups(self) -> Counter[str]:
        """Deliveries per interface: ``channel`` (webhooks), ``courier`` (tracking pushes),
        ``facts_api`` (the WMS and ERP, stock included)."""
        with self.lock:
            return Counter(_group(record.kind) for record in self.sent)


def _group(kind: str) -> str:
    if kind in COURIER_KINDS:
        return "courier"
    if kind in ("wms", "erp", "tms"):
        return "facts_api"
    return "channel"


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
    # The tracking providers to play (one account per courier kind) and the WMS/ERP reporting
    # through the facts API; empty / None: only the channels.
    couriers: tuple[AccountConfig, ...] = ()
    systems: SystemAccounts | None = None
    # Fault name -> share of orders it is injected into (channels_app.sandbox.faults); at
    # most one fault per order. Faults need the WMS/ERP (and most the couriers) to play.
    faults: Mapping[str, float] = field(default_factory=dict)
    # Send only the orders a fault was injected into (``manage.py sandbox_fault``).
    only_faults: bool = False
    # Stop after this many orders (0: no limit; ``count`` still bounds the deliveries).
    orders: int = 0
    # Share of the (paid) orders that get an after-sale story later.
    feedback: float = 0.0


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


def send(base: str, request: encoders.Request) -> tuple[int, float]:
    """Send one request now: (HTTP status or 0, milliseconds)."""
    return _send(base, request, None)


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
    couriers = {account.kind: account for account in config.couriers}
    systems = config.systems
    assortments = warehouse_assortments(list(systems.wms)) if systems else []
    # Faults draw from their own stream, so the healthy orders of a run are the same with or
    # without them.
    fault_rng = random.Random(config.seed * 7919 + (config.run << 32) + 0xFA17)
    feedback_rng = random.Random(config.seed * 104729 + (config.run << 32) + 0xFEED)
    while config.count == 0 or emitted < config.count:
        if config.orders and len(ledger.expected) >= config.orders:
            break
        if config.only_faults and number >= 100 * (len(ledger.faults) + 1):
            raise ValueError("no order in 100 the fault applies to: check --kinds")
        account = accounts[number % len(accounts)]
        order = generate_order(account.kind, number, rng, datetime.now(UTC), run=config.run)
        number += 1
        now = datetime.now(UTC)
        story: faults.Story | None = None
        if config.faults and systems is not None:
            name = faults.fault_pick(config.faults, fault_rng)
            if name:
                healthy = faults.story_of(order, fault_rng, couriers=bool(couriers))
                story = faults.fault_apply(name, healthy, fault_rng, now)
            if story is not None:
                order = story.order
                ledger.faults.append((story.fault, account.code, order.external_id))
                ledger.stories.append(story)
        if config.only_faults and story is None:
            continue
        units: list[tuple[str, str, encoders.Request, encoders.Payload | None]] = [
            (account.kind, account.code, *_channel_request(account, order, step, now, keys))
            for step in range(len(order.steps))
        ]
        stages: tuple[str, ...] = ()
        late: list[Job] = []
        if couriers or systems:
            facts = story.facts if story is not None else None
            others = _other_systems(order, account.code, rng, systems, assortments, facts)
            for _kind, code, request, _payload in others:
                parsed = json.loads(request.body)
                for body in parsed if isinstance(parsed, list) else [parsed]:
                    ledger.fact_keys.add((code, body["key"]))
            units += others
            if couriers:
                events = story.events if story is not None else courier_events(order, rng)
                if events and courier_kind_of(order) in couriers:
                    stages = tuple(event.stage for event in events)
                    courier = couriers[courier_kind_of(order)]
                    units += _courier_requests(order, events, courier, now)
                    ledger.waybills[order.tracking_number] = (
                        account.code, order.external_id, stages,
                    )  # fmt: skip
            if story is not None and (story.late_facts or story.late_events):
                late = _late_jobs(story, account.code, couriers, systems, assortments, now)
                for late_job in late:
                    for kind, code, _external_id, _category, request in late_job:
                        if kind in ("wms", "erp"):
                            ledger.fact_keys.add((code, json.loads(request.body)["key"]))
                if story.late_waybill and story.late_events:
                    ledger.waybills[story.late_waybill] = (
                        account.code, order.external_id,
                        tuple(event.stage for event in story.late_events),
                    )  # fmt: skip
            final = final_with_systems(
                order,
                stages + (tuple(e.stage for e in story.late_events) if story else ()),
                with_systems=systems is not None,
                facts=(story.facts + story.late_facts) if story is not None else None,
            )
        else:
            final = order.final_milestone
        ledger.expected[(account.code, order.external_id)] = final
        rng.shuffle(units)
        # A second label and its scans come after the rest of the order's story.
        for offset, late_job in enumerate(late):
            later.append((emitted + len(units) + 30 * (offset + 1), late_job))
        if config.feedback and feedback_rng.random() < config.feedback:
            # The after-sale comes after the order's story, its messages well apart.
            story_messages = feedback_traffic.feedback_story(order, feedback_rng, now)
            for offset, message in enumerate(story_messages):
                request = encoders.wrap(account, message.payload, sent_at=now)
                item = (account.kind, account.code, order.external_id, "feedback", request)
                later.append((emitted + len(units) + 40 + 25 * offset, [item]))
                key = (account.code, message.kind, message.external_id)
                ledger.feedback[key] = message.status
        for index, (kind, code, request, payload) in enumerate(units):
            item = (kind, code, order.external_id, "normal", request)
            job: Job = [item]
            if rng.random() < p_dup:
                if rng.random() < 1 / 3:
                    job.append((*item[:3], "concurrent_duplicate", request))
                else:
                    later.append(
                        (emitted + rng.randint(1, 40), [(*item[:3], "duplicate", request)])
                    )
            signed = kind not in ("wms", "erp")
            if signed and rng.random() < p_bad:
                bad = encoders.bad_signature(kind, request, rng.randint(0, 1))
                later.append((emitted + rng.randint(0, 10), [(*item[:3], "bad_signature", bad)]))
            if payload is not None and rng.random() < p_hostile:
                variant = rng.choice(encoders.HOSTILE_KINDS)
                marker = f"h{config.seed}-{config.run:x}-{number}-{index}-{rng.getrandbits(32):08x}"
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


def _channel_request(
    account: AccountConfig,
    order: SandboxOrder,
    step: int,
    now: datetime,
    keys: dict[str, Any],
) -> tuple[encoders.Request, encoders.Payload]:
    payload = encoders.PAYLOADS[account.kind](order, step)
    return encoders.wrap(account, payload, sent_at=now, private_key=keys.get(account.code)), payload


def _courier_requests(
    order: SandboxOrder, events: tuple[CourierEvent, ...], account: AccountConfig, now: datetime
) -> list[tuple[str, str, encoders.Request, encoders.Payload | None]]:
    """One push per scan, each carrying the trace so far (as the providers push)."""
    result: list[tuple[str, str, encoders.Request, encoders.Payload | None]] = []
    for count in range(1, len(events) + 1):
        payload = encoders.COURIER_PAYLOADS[account.kind](order, events[:count])
        request = encoders.wrap(account, payload, sent_at=now)
        result.append((account.kind, account.code, request, None))
    return result


def _late_jobs(
    story: faults.Story,
    channel: str,
    couriers: dict[str, AccountConfig],
    systems: SystemAccounts | None,
    assortments: list[tuple[str, frozenset[str]]],
    now: datetime,
) -> list[Job]:
    """The story's late part as jobs: its facts first, then the second waybill's scans (by
    the order's courier, under delivery ids of their own)."""
    order = story.order
    jobs: list[Job] = []
    if systems is not None and story.late_facts:
        wms_code = systems.wms.get(warehouse_of(order, assortments), "")
        for fact in story.late_facts:
            code = systems.erp if fact.system == "erp" else wms_code
            if not code:
                continue
            body = encoders.system_fact_body(code, channel, order, fact)
            request = encoders.api_request(FACTS_PATH, systems.token, body)
            jobs.append([(fact.system, code, order.external_id, "normal", request)])
    courier = couriers.get(courier_kind_of(order))
    if courier is not None and story.late_events:
        # Number offset: the second waybill's pushes never reuse the first one's event ids.
        second = replace(order, tracking_number=story.late_waybill, number=order.number + (1 << 30))
        jobs.append(
            [
                (courier.kind, courier.code, order.external_id, "normal", request)
                for _kind, _code, request, _payload in _courier_requests(
                    second, story.late_events, courier, now
                )
            ]
        )
    return jobs


def _other_systems(
    order: SandboxOrder,
    channel: str,
    rng: random.Random,
    systems: SystemAccounts | None,
    assortments: list[tuple[str, frozenset[str]]],
    facts: tuple[SystemFact, ...] | None = None,
) -> list[tuple[str, str, encoders.Request, encoders.Payload | None]]:
    """The WMS's and the ERP's facts about ``order`` (default: ``system_facts(order)``) as
    facts-API requests: the ERP's one by one, the WMS's one by one or (half of the orders) as
    one batch."""
    if systems is None:
        return []
    if facts is None:
        facts = system_facts(order)
    wms_code = systems.wms.get(warehouse_of(order, assortments), "")
    result: list[tuple[str, str, encoders.Request, encoders.Payload | None]] = []
    batch: list[dict[str, Any]] = []
    for fact in facts:
        code = systems.erp if fact.system == "erp" else wms_code
        if not code:
            continue
        body = encoders.system_fact_body(code, channel, order, fact)
        if fact.system == "wms" and rng.random() < 0.5:
            batch.append(body)
            continue
        request = encoders.api_request(FACTS_PATH, systems.token, body)
        result.append((fact.system, code, request, None))
    if batch:
        result.append(
            ("wms", wms_code, encoders.api_request(FACTS_PATH, systems.token, batch), None)
        )
    return result


def stock_report(config: RunConfig, ledger: Ledger) -> None:
    """Each sandbox WMS reports ample stock of what its warehouse holds (one request each)."""
    systems = config.systems
    if systems is None:
        return
    assortments = warehouse_assortments(list(systems.wms))
    for warehouse, held in assortments:
        code = systems.wms[warehouse]
        levels = [
            {"sku": sku, "warehouse": warehouse, "on_hand": STOCK_ON_HAND}
            for sku, _title, _price in CATALOGUE
            if sku in held
        ]
        # The stock_shortage fault's SKU is sold out everywhere; the bad_hs_code fault's gift
        # box is kept where the orders that hold unusual SKUs go (the last warehouse).
        levels.append({"sku": faults.SOLD_OUT_SKU, "warehouse": warehouse, "on_hand": 0})
        if warehouse == assortments[-1][0]:
            levels.append(
                {"sku": faults.BAD_HS_SKU, "warehouse": warehouse, "on_hand": STOCK_ON_HAND}
            )
        body = {"system": code, "levels": levels}
        status, elapsed = _send(
            config.url, encoders.api_request(STOCK_PATH, systems.token, body), None
        )
        ledger.add(Sent("wms", code, "", "stock", status, elapsed))


def run(
    accounts: list[AccountConfig],
    config: RunConfig,
    *,
    progress: Callable[[Ledger, float], None] | None = None,
) -> Ledger:
    """Send ``config.count`` deliveries (0 = forever) or until ``max_seconds``; the ledger."""
    ledger = Ledger()
    stock_report(config, ledger)
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
