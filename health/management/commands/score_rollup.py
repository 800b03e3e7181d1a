from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from health.rollup import (
    FOLD_BATCH,
    FoldResult,
    fold_remaining,
    score_daily_rollup,
    score_fold_backfill,
)
from health.score import local_zone


class Command(BaseCommand):
    help = (
        "Roll up the health score's counts of the past days the board's trend shows; with "
        "--backfill, first fold every fact above the watermark into today's counters."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="days back, today excluded")
        parser.add_argument(
            "--backfill", action="store_true",
            help="fold all facts not folded yet (the first run, or after the sync window changed)",
        )  # fmt: skip
        parser.add_argument("--batch", type=int, default=FOLD_BATCH, help="facts per fold pass")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["backfill"]:
            bar = tqdm(total=fold_remaining(), desc="facts folded", unit="fact")

            def advance(result: FoldResult) -> None:
                bar.update(result.facts)

            result = score_fold_backfill(batch=options["batch"], progress=advance)
            bar.close()
            self.stdout.write(
                f"folded up to fact {result.fact_mark}"
                + ("" if result.caught_up else " (facts younger than a minute wait for the beat)")
            )
        today = timezone.now().astimezone(local_zone()).date()
        days = [today - timedelta(days=n) for n in range(options["days"], 0, -1)]
        rows = 0
        for day in tqdm(days, desc="days rolled up", unit="day"):
            rows += score_daily_rollup(day=day)
        self.stdout.write(f"{len(days)} days rolled up, {rows} rows")
