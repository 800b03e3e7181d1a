"""``manage.py recovery_report``: the order recovery cycle as a table or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from health.recovery import GROUPS, RecoveryRow, recovery_cycle


def _moment(text: str, option: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{option}: not a date or ISO date-time: {text!r}")
        moment = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


class Command(BaseCommand):
    help = (
        "The order recovery cycle: anomalies opened in [--since, --until), time to detect "
        "and to resolve (p50/p90, seconds), the share repaired automatically within 2 "
        "minutes and the per-order cycle, grouped by channel, warehouse, kind or day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="ISO date or date-time (default: 7 days ago)")
        parser.add_argument("--until", help="ISO date or date-time (default: now)")
        parser.add_argument("--by", choices=sorted(GROUPS), default="kind")
        parser.add_argument("--warehouse", action="append", dest="warehouses", metavar="CODE")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        until = _moment(options["until"], "--until") if options["until"] else timezone.now()
        since = (
            _moment(options["since"], "--since") if options["since"] else until - timedelta(days=7)
        )
        if since >= until:
            raise CommandError("--since must be before --until")
        rows = recovery_cycle(
            since=since, until=until, group_by=options["by"], warehouse_codes=options["warehouses"]
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "since": since.isoformat(),
                        "until": until.isoformat(),
                        "by": options["by"],
                        "rows": [asdict(row) for row in rows],
                    },
                    indent=2,
                )
            )
            return
        self.stdout.write(self._table(options["by"], rows))

    @staticmethod
    def _table(by: str, rows: list[RecoveryRow]) -> str:
        header = [
            by, "anomalies", "orders", "detect p50 s", "detect p90 s", "resolve p50 s",
            "resolve p90 s", "auto <2min", "cycle p50 s", "cycle p90 s",
        ]  # fmt: skip
        body = [
            [
                row.group or "-",
                str(row.anomalies),
                str(row.orders),
                _seconds(row.detect_p50_s),
                _seconds(row.detect_p90_s),
                _seconds(row.resolve_p50_s),
                _seconds(row.resolve_p90_s),
                _share(row.auto_within_2min_share),
                _seconds(row.cycle_p50_s),
                _seconds(row.cycle_p90_s),
            ]
            for row in rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                      enumerate(zip(line, widths, strict=True)))
            for line in [header, *body]
        ]  # fmt: skip
        if not body:
            lines.append("(no anomalies opened in this window)")
        return "\n".join(lines)
