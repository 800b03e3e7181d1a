"""``manage.py ledger_verify``: recompute the ledger chain, check the signed checkpoints, and
replay the ledger against the orders.

Exit status 0 when the chain is intact and every order holds what its events say; 1 at the
first broken link (named precisely) or when the replay finds an order that disagrees (each
one named with its field). ``--no-replay`` checks the chain only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from traceability import checkpoints
from traceability.replay import ledger_replay
from traceability.verify import ledger_counts, ledger_verify


class Command(BaseCommand):
    help = (
        "Recompute the ledger hash chain, check it against the signed checkpoints and replay "
        "it against the orders."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--public-key",
            action="store_true",
            help="print the ledger's public key (PEM) and exit",
        )
        parser.add_argument(
            "--key-file",
            type=Path,
            help="check signatures with this public key (PEM) instead of the configured key",
        )
        parser.add_argument(
            "--checkpoint-dir", type=Path, help="folder of checkpoint files (default: configured)"
        )
        replay = parser.add_mutually_exclusive_group()
        replay.add_argument(
            "--replay",
            action="store_true",
            help="replay the ledger against each order's status, warehouse, carrier and "
            "tracking number (the default)",
        )
        replay.add_argument(
            "--no-replay", action="store_true", help="check the hash chain only, no replay"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["public_key"]:
            self.stdout.write(checkpoints.public_key_pem(), ending="")
            return
        key = (
            checkpoints.load_public_key_pem(options["key_file"].read_text())
            if options["key_file"]
            else checkpoints.public_key()
        )
        sealed, _unsealed = ledger_counts()
        started = time.monotonic()
        with tqdm(
            total=sealed,
            unit="ev",
            unit_scale=True,
            disable=options["no_progress"],
            file=sys.stderr,
            desc="ledger",
        ) as bar:
            report = ledger_verify(
                public_key=key, checkpoint_dir=options["checkpoint_dir"], progress=bar.update
            )
        elapsed = time.monotonic() - started
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        failed = report.broken is not None
        if report.broken is not None:
            self.stderr.write(f"BROKEN at {report.broken.describe()}")
            self.stderr.write(
                f"{report.events_checked} events verified before the break in {elapsed:.1f} s"
            )
        else:
            self.stdout.write(
                f"OK: {report.events_checked} events, head seq {report.head_seq} "
                f"hash {report.head_hash}, {report.checkpoints_checked} signed checkpoints "
                f"matched, {elapsed:.1f} s"
            )
        if not options["no_replay"]:
            failed = not self._replay() or failed
        if failed:
            sys.exit(1)

    def _replay(self) -> bool:
        started = time.monotonic()
        replay = ledger_replay()
        elapsed = time.monotonic() - started
        for warning in replay.warnings:
            self.stderr.write(f"warning: {warning}")
        for finding in replay.findings:
            self.stderr.write(f"REPLAY {finding.describe()}")
        counts = f"{replay.orders} orders, {replay.events} order events"
        if replay.findings:
            orders = len({finding.order_id for finding in replay.findings})
            self.stderr.write(
                f"replay: {len(replay.findings)} disagreements in {orders} orders "
                f"({counts}), {elapsed:.1f} s"
            )
            return False
        self.stdout.write(f"replay OK: {counts} agree with the orders, {elapsed:.1f} s")
        return True
