"""``manage.py sandbox_fault <fault>``: inject one fault now, into new sandbox orders."""

from __future__ import annotations

import json
import secrets
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.models import ChannelAccount
from channels_app.sandbox import engine, faults
from channels_app.sandbox.accounts import sandbox_account, sandbox_systems
from channels_app.sandbox.generator import COURIER_KINDS, FULFILLED_KINDS


class Command(BaseCommand):
    help = (
        "Inject a fault on demand: send --count new sandbox orders whose story carries the "
        "fault through the real interfaces (signed webhooks, courier pushes, the facts and "
        "stock APIs), and print each order's channel and external id. late_wms adds the "
        "orders to the Pinduoduo sandbox API (manage.py sandbox_api), which the next poll "
        "brings in. Run manage.py sandbox --setup once first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("fault", choices=list(faults.FAULT_RULES))
        parser.add_argument("--count", type=int, default=1, help="orders (default 1)")
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--api-url",
            default=None,
            help="the sandbox platform APIs, for late_wms (default: http://127.0.0.1:"
            "SANDBOX_API_PORT)",
        )
        parser.add_argument(
            "--kinds", nargs="+", default=list(FULFILLED_KINDS), choices=FULFILLED_KINDS
        )
        parser.add_argument("--seed", type=int, default=None, help="default: random")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["fault"]
        count: int = options["count"]
        if count < 1:
            raise CommandError("--count must be at least 1")
        if name == "late_wms":
            self._late_wms(options["api_url"], count)
            return
        url: str = options["url"]
        if not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            raise CommandError("the sandbox only sends to this machine (127.0.0.1)")
        try:
            accounts = [sandbox_account(kind) for kind in options["kinds"]]
            couriers = tuple(sandbox_account(kind) for kind in COURIER_KINDS)
        except ChannelAccount.DoesNotExist:
            raise CommandError("no sandbox accounts: run manage.py sandbox --setup") from None
        systems = sandbox_systems()
        if systems is None:
            raise CommandError("no sandbox WMS/ERP accounts: run manage.py sandbox --setup")
        seed = secrets.randbits(31) if options["seed"] is None else options["seed"]
        config = engine.RunConfig(
            url=url.rstrip("/"), rate=0, count=0, duplicates=0, bad_signatures=0, hostile=0,
            seed=seed, threads=4, run=secrets.randbits(28), couriers=couriers,
            systems=systems, faults={name: 1.0}, only_faults=True, orders=count,
        )  # fmt: skip
        try:
            ledger = engine.run(accounts, config)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        failed = [r for r in ledger.sent if r.status == 0 or r.status >= 400]
        for fault, code, external_id in ledger.faults:
            self.stdout.write(f"{fault}: {code} {external_id} -> {faults.FAULT_RULES[fault]}")
        self.stdout.write(
            f"done: {len(ledger.faults)} orders, {len(ledger.sent)} deliveries, "
            f"{len(failed)} refused or failed"
        )
        if failed:
            raise CommandError(
                "; ".join(f"{r.kind} {r.external_id}: HTTP {r.status}" for r in failed[:5])
            )

    def _late_wms(self, api_url: str | None, count: int) -> None:
        base = api_url or f"http://127.0.0.1:{settings.SANDBOX_API_PORT}"
        if not base.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            raise CommandError("the sandbox API runs on this machine (127.0.0.1)")
        try:
            response = requests.post(
                f"{base.rstrip('/')}/_sandbox/late_wms", json={"count": count}, timeout=10
            )
        except requests.RequestException as exc:
            raise CommandError(f"the sandbox API at {base} does not answer: {exc}") from None
        if response.status_code != 200:
            raise CommandError(f"the sandbox API refused: HTTP {response.status_code}")
        for order_sn in json.loads(response.content)["order_sn"]:
            self.stdout.write(f"late_wms: pinduoduo {order_sn} -> sla_at_risk (next poll)")
