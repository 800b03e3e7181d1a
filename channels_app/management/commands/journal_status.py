"""``manage.py journal_status``: what the emergency intake journal holds (no database)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from channels_app.journal import journal_dir, journal_status_read


class Command(BaseCommand):
    help = "Print the journal's segment count, record count, oldest record age and bytes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        status = journal_status_read()
        age = (
            round((timezone.now() - status.oldest_received_at).total_seconds(), 1)
            if status.oldest_received_at
            else None
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "segments": status.segments,
                        "records": status.records,
                        "oldest_age_seconds": age,
                        "bytes": status.bytes,
                    }
                )
            )
            return
        self.stdout.write(f"journal {journal_dir().name}/")
        self.stdout.write(f"segments {status.segments}")
        self.stdout.write(f"records {status.records}")
        self.stdout.write(f"oldest age {'-' if age is None else f'{age} s'}")
        self.stdout.write(f"bytes {status.bytes}")
