"""``manage.py ingest --channel CODE FILE [--header 'Name: value' ...]``: ops replays."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.services.ingest import manual_import


class Command(BaseCommand):
    help = (
        "Run a saved raw payload through the webhook path (verify, store, process) and print "
        "the outcome. Recorded as a manual import with the actor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", required=True, help="channel account code")
        parser.add_argument("file", help="file holding the raw body exactly as delivered")
        parser.add_argument(
            "--header", action="append", default=[], metavar="'Name: value'",
            help="a request header as the platform sent it (repeatable)",
        )  # fmt: skip
        parser.add_argument(
            "--no-verify", action="store_true",
            help="skip signature verification (payload verified earlier); recorded",
        )  # fmt: skip
        parser.add_argument("--actor", default="", help="who runs the import (default: OS user)")

    def handle(self, *args: Any, **options: Any) -> None:
        headers: dict[str, str] = {}
        for line in options["header"]:
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise CommandError(f"--header {line!r}: expected 'Name: value'")
            headers[name.strip().lower()] = value.strip()
        try:
            body = Path(options["file"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from None
        outcome = manual_import(
            code=options["channel"],
            body=body,
            headers=headers,
            actor=options["actor"] or getpass.getuser(),
            verify=not options["no_verify"],
        )
        self.stdout.write(json.dumps(outcome.as_dict(), ensure_ascii=False))
        if outcome.status in {"quarantined", "failed_terminal", "unknown_account"}:
            raise CommandError(f"ingest ended {outcome.status}: {outcome.reason}")
