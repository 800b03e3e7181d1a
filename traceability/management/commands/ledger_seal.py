"""``manage.py ledger_seal``: seal every committed event now (the beat task does it anyway)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from traceability.services import ledger_checkpoint_write, ledger_seal


class Command(BaseCommand):
    help = "Seal committed ledger events into the chain and sign a checkpoint of the head."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sweep", action="store_true", help="also look for late events far below the head"
        )
        parser.add_argument("--no-checkpoint", action="store_true", help="do not sign a checkpoint")

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        while True:
            result = ledger_seal(max_events=100_000, sweep=options["sweep"] and total == 0)
            if result.skipped_locked:
                self.stderr.write("another sealer holds the lock; try again later")
                return
            total += result.sealed
            if result.sealed == 0:
                break
        checkpoint = None if options["no_checkpoint"] else ledger_checkpoint_write(force=True)
        self.stdout.write(f"sealed {total} events")
        if checkpoint is not None:
            self.stdout.write(f"checkpoint seq {checkpoint.seq} head {checkpoint.head_hash}")
