"""``manage.py sandbox``: play the push platforms against OrderHub's hooks on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.adapters.base import AccountConfig
from channels_app.models import ChannelAccount
from channels_app.sandbox import engine, faults
from channels_app.sandbox.accounts import (
    sandbox_account,
    sandbox_accounts_setup,
    sandbox_systems,
    sandbox_systems_setup,
)
from channels_app.sandbox.generator import COURIER_KINDS, PUSH_KINDS


class Command(BaseCommand):
    help = (
        "Generate realistic orders and deliver them to /hooks/<code>/ exactly as each platform "
        "does, with duplicates, reordering, bad signatures and hostile bodies, from a seed; "
        "the couriers' tracking pushes (Kuaidi100, 17TRACK, AfterShip) and a WMS per warehouse "
        "and an ERP reporting facts and stock to /api/v1/facts/ and /api/v1/stock/ come with "
        "them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--setup",
            action="store_true",
            help="create one sandbox-<kind> account per kind, one per courier kind, a "
            "sandbox-wms-<warehouse> per active warehouse, sandbox-erp and the sandbox-reporter "
            "user with its API token (existing kept)",
        )
        parser.add_argument(
            "--channels-only",
            action="store_true",
            help="play only the channels: no courier pushes, no WMS/ERP facts or stock",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
        parser.add_argument("--count", type=int, default=1000, help="deliveries; 0 = forever")
        parser.add_argument("--duplicates", type=float, default=0.3)
        parser.add_argument("--bad-signatures", type=float, default=0.02)
        parser.add_argument("--hostile", type=float, default=0.05)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--run",
            type=int,
            default=None,
            help="run id (0 to 2**28-1), part of every order and delivery id; default: random, "
            "so a second run sends new orders instead of replaying the first (same --seed and "
            "--run: the same traffic again)",
        )
        parser.add_argument(
            "--fault",
            action="append",
            default=None,
            metavar="NAME=RATE",
            help="inject a fault into this share of the orders (repeatable), e.g. "
            f"--fault missing_scan=0.05; faults: {', '.join(faults.ENGINE_FAULTS)}. Default: "
            f"each at {faults.DEFAULT_RATES['missing_scan']:g} (with the WMS/ERP playing)",
        )
        parser.add_argument(
            "--no-faults", action="store_true", help="a healthy run: inject no fault at all"
        )
        parser.add_argument(
            "--feedback",
            type=float,
            default=0.0,
            metavar="SHARE",
            help="share of the paid orders that later get an after-sale in their platform's "
            "format (Douyin after-sale and arbitration messages, Youzan trade_refund_*, "
            "Shopify refunds/create and disputes/*), e.g. --feedback 0.2; default 0",
        )
        parser.add_argument("--threads", type=int, default=16)
        parser.add_argument("--kinds", nargs="+", default=list(PUSH_KINDS), choices=PUSH_KINDS)

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        if not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            raise CommandError("the sandbox only sends to this machine (127.0.0.1)")
        kinds = tuple(options["kinds"])
        others = not options["channels_only"]
        if options["setup"]:
            for code in sandbox_accounts_setup(kinds=kinds + (COURIER_KINDS if others else ())):
                self.stdout.write(f"created account {code}: webhook path /hooks/{code}/")
            if others:
                for code in sandbox_systems_setup():
                    self.stdout.write(f"created account {code}: reports to /api/v1/facts/")
        accounts = []
        for kind in kinds:
            try:
                accounts.append(sandbox_account(kind))
            except ChannelAccount.DoesNotExist:
                raise CommandError(f"no sandbox account for {kind}: run with --setup") from None
        couriers: tuple[AccountConfig, ...] = ()
        systems = None
        if others:
            try:
                couriers = tuple(sandbox_account(kind) for kind in COURIER_KINDS)
            except ChannelAccount.DoesNotExist:
                raise CommandError("no sandbox courier accounts: run with --setup") from None
            systems = sandbox_systems()
            if systems is None:
                raise CommandError("no sandbox WMS/ERP accounts: run with --setup")
        try:
            rates = faults.parse_rates(options["fault"] or [])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["no_faults"]:
            rates = {}
        elif not options["fault"] and systems is not None:
            rates = dict(faults.DEFAULT_RATES)
        if rates and systems is None:
            raise CommandError("faults need the WMS/ERP and couriers: drop --channels-only")
        run = secrets.randbits(28) if options["run"] is None else options["run"]
        if not 0 <= options["feedback"] <= 1:
            raise CommandError("--feedback is a share between 0 and 1")
        if not 0 <= run < 1 << 28:
            raise CommandError("--run must be between 0 and 2**28-1")
        self.stdout.write(f"sandbox run {run} (seed {options['seed']})")
        if rates:
            self.stdout.write(
                "faults: " + " ".join(f"{name}={rate:g}" for name, rate in sorted(rates.items()))
            )
        config = engine.RunConfig(
            url=url.rstrip("/"),
            rate=options["rate"],
            count=options["count"],
            duplicates=options["duplicates"],
            bad_signatures=options["bad_signatures"],
            hostile=options["hostile"],
            seed=options["seed"],
            threads=options["threads"],
            run=run,
            couriers=couriers,
            systems=systems,
            faults=rates,
            feedback=options["feedback"],
        )

        def progress(ledger: engine.Ledger, elapsed: float) -> None:
            total = len(ledger.sent)
            statuses = ledger.statuses()
            self.stdout.write(
                f"{elapsed:6.1f}s sent {total} ({total / max(elapsed, 0.001):.0f}/s) "
                f"orders {len(ledger.expected)} "
                + " ".join(f"{name}={n}" for name, n in sorted(ledger.counts().items()))
                + " | "
                + " ".join(f"{name}={n}" for name, n in sorted(ledger.groups().items()))
                + " | http "
                + " ".join(f"{code}={n}" for code, n in sorted(statuses.items()))
            )

        ledger = engine.run(accounts, config, progress=progress)
        errors = sum(n for code, n in ledger.statuses().items() if code == 0 or code >= 500)
        groups = ledger.groups()
        injected = Counter(name for name, _code, _external_id in ledger.faults)
        self.stdout.write(
            f"faults injected: {len(ledger.faults)}"
            + "".join(f" {name}={n}" for name, n in sorted(injected.items()))
        )
        after_sale = ledger.counts()["feedback"]
        self.stdout.write(
            f"done: {len(ledger.sent)} deliveries ({groups['channel']} channel, "
            f"{groups['courier']} courier, {groups['facts_api']} facts API"
            + (f"; {after_sale} of them after-sale" if after_sale else "")
            + f"), {errors} errors (5xx or no answer)"
        )
