from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from health.rollup import score_daily_rollup
from health.score import local_zone


class Command(BaseCommand):
    help = "Roll up the health score's counts of the past days the board's trend shows."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="days back, today excluded")

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.now().astimezone(local_zone()).date()
        days = [today - timedelta(days=n) for n in range(options["days"], 0, -1)]
        rows = 0
        for day in tqdm(days, desc="days rolled up", unit="day"):
            rows += score_daily_rollup(day=day)
        self.stdout.write(f"{len(days)} days rolled up, {rows} rows")
