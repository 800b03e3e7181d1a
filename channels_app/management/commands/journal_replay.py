"""``manage.py journal_replay``: store what the emergency intake journal holds, now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from channels_app.journal import JournalBusy
from channels_app.services.journal import journal_replay


class Command(BaseCommand):
    help = (
        "Feed the journaled deliveries through the normal store path in arrival order "
        "(idempotent), then remove the replayed segments. Refused while another replay runs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = journal_replay()
        except JournalBusy as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"segments {result.segments} records {result.records} stored {result.stored} "
            f"already stored {result.skipped} quarantined {result.quarantined} "
            f"kept {result.refused}"
        )
