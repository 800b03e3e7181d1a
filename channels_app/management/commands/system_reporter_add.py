"""``manage.py system_reporter_add --system CODE --user USERNAME [--create]``: let a user's
API token report facts and stock for a wms, erp or tms account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.services.system_facts import system_reporter_add


class Command(BaseCommand):
    help = "Allow a user's API token to report for a WMS, ERP or TMS account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--system", required=True, help="code of the wms/erp/tms account")
        parser.add_argument("--user", required=True, help="username whose token reports")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the user if missing (an integration user: no password, token only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            added = system_reporter_add(
                account_code=options["system"], username=options["user"], create=options["create"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        state = "may now report" if added else "could already report"
        self.stdout.write(f"{options['user']} {state} for {options['system']}")
