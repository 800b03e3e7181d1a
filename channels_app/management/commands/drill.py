"""``manage.py drill --fault database|database-hung|redis|worker|sealer|disk-full --deliveries N``:
one bounded fault drill."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.drill.runner import DISK_FULL_BYTES, FAULTS, DrillError, drill_run
from orderhub.settings.env import env


class Command(BaseCommand):
    help = (
        "Start an intake on a free 127.0.0.1 port, drive signed webform deliveries through it, "
        "inject one fault (its database connections refused or hung, its broker connections "
        "refused, the inbox worker or the ledger sealer killed with SIGKILL, or the database "
        "down with the journal's disk full), restore, wait for the "
        "drain and print sent / answered 2xx / stored / processed / duplicated / lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fault", required=True, choices=FAULTS)
        parser.add_argument("--deliveries", type=int, default=300)
        parser.add_argument("--concurrency", type=int, default=4, help="parallel senders")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
        parser.add_argument(
            "--fault-seconds", type=float, default=0.0,
            help="keep the fault on this long after the deliveries sent during it",
        )  # fmt: skip
        parser.add_argument(
            "--journal-bytes", type=int, default=DISK_FULL_BYTES,
            help="disk-full: the room the journal has (the tmpfs size, or the quota)",
        )  # fmt: skip
        parser.add_argument(
            "--disk-full-by", choices=("tmpfs", "quota"), default="",
            help="disk-full: a real tmpfs (ENOSPC, needs user namespaces) or JOURNAL_MAX_BYTES; "
            "default: tmpfs where allowed",
        )  # fmt: skip
        parser.add_argument(
            "--i-know", action="store_true",
            help="run against a database given by DATABASE_URL (not the embedded one)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if env.str("DATABASE_URL", default="") and not options["i_know"]:
            raise CommandError(
                "DATABASE_URL names a database server: a drill writes drill accounts and "
                "deliveries into it. Use the embedded stack, or pass --i-know."
            )
        if options["deliveries"] < 3:
            raise CommandError("--deliveries: at least 3 (before, during and after the fault)")
        try:
            report = drill_run(
                fault=options["fault"], deliveries=options["deliveries"],
                concurrency=options["concurrency"], workers=options["workers"],
                fault_seconds=options["fault_seconds"], journal_bytes=options["journal_bytes"],
                disk_full_by=options["disk_full_by"], say=self.stderr.write,
            )  # fmt: skip
        except DrillError as error:
            raise CommandError(str(error)) from None
        for line in report.lines():
            self.stdout.write(line)
        if report.failed:
            raise CommandError(
                "the drill lost or duplicated deliveries, or left the ledger unsealed or broken"
            )
