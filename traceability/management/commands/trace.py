"""``manage.py trace REF [--pdf FILE]``: an order's trace as text, or as the PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orderhub.selectors import order_find
from traceability.pdf import trace_pdf_render
from traceability.selectors import order_trace


class Command(BaseCommand):
    help = (
        "Show the trace of one order (internal id, channel order id, channel:id, tracking "
        "number or phone tail), or write it as a PDF."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference")
        parser.add_argument("--pdf", type=Path, metavar="FILE", help="write the PDF report here")
        parser.add_argument(
            "--language", default="zh-hans", choices=["zh-hans", "en"], help="report language"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        orders = list(order_find(reference=options["reference"])[:20])
        if not orders:
            raise CommandError(f"no order matches {options['reference']!r}")
        if len(orders) > 1:
            listed = ", ".join(f"#{o.pk} {o.channel}:{o.external_id}" for o in orders)
            raise CommandError(f"{len(orders)} orders match; use one of: {listed}")
        trace = order_trace(order=orders[0])
        if options["pdf"]:
            pdf = trace_pdf_render(trace=trace, language=options["language"])
            options["pdf"].write_bytes(pdf)
            self.stdout.write(
                f"wrote {options['pdf']} ({len(pdf)} bytes, {len(trace.entries)} entries)"
            )
            return
        order = trace.order
        self.stdout.write(f"#{order.pk} {order.channel}:{order.external_id} [{order.status}]")
        for entry in trace.entries:
            when = timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S")
            seq = f" #{entry.ledger_seq}" if entry.ledger_seq else ""
            actor = f" by {entry.actor}" if entry.actor else ""
            self.stdout.write(
                f"{when}  {entry.source_system:<16} {entry.kind:<8} {entry.title}{actor}{seq}"
            )
        ledger = trace.ledger
        self.stdout.write(
            f"ledger: {ledger.event_count} events, seq {ledger.first_seq}-{ledger.last_seq}, "
            f"checkpoint {ledger.checkpoint.seq if ledger.checkpoint else 'none'}"
        )
