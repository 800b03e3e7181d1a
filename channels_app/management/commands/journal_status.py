"""``manage.py journal_status``: what the emergency intake journal holds (no database)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from channels_app.journal import journal_dir
from channels_app.selectors import journal_health


class Command(BaseCommand):
    help = (
        "Print the journal's segment count, record count, oldest record age, bytes and "
        "whether it alarms (exit status 0 either way)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        health = journal_health()
        if options["json"]:
            self.stdout.write(json.dumps(health))
            return
        age = health["oldest_age_s"]
        self.stdout.write(f"journal {journal_dir().name}/")
        self.stdout.write(f"segments {health['segments']}")
        self.stdout.write(f"records {health['records']}")
        self.stdout.write(f"oldest age {'-' if age is None else f'{age} s'}")
        limit = f" of at most {health['max_bytes']}" if health["max_bytes"] else ""
        self.stdout.write(f"bytes {health['bytes']}{limit}")
        reasons = "; ".join(health["reasons"])
        self.stdout.write(f"alarm {'yes: ' + reasons if health['alarm'] else 'no'}")
