"""``manage.py notify_test CODE [--to RECIPIENT ...]``: send one test message, print the answer.

Exit 0 when the receiver accepted it; 1 when it refused (including a refusal inside an HTTP
200 body, such as DingTalk's ``errcode 310000``) or could not be reached.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from health.alerts.choices import DeliveryStatus
from health.alerts.models import Notifier
from health.alerts.services.testing import notifier_test


class Command(BaseCommand):
    help = "Send one test message through a notifier and print what the receiver answered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code")
        parser.add_argument(
            "--to",
            action="append",
            default=[],
            help="a recipient (phone, e-mail, user id); repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        notifier = Notifier.objects.filter(code=options["code"]).first()
        if notifier is None:
            raise CommandError(f"no notifier with code {options['code']!r}")
        delivery = notifier_test(notifier_id=notifier.pk, recipients=options["to"])
        self.stdout.write(f"notifier: {notifier.code} ({notifier.kind})")
        self.stdout.write(f"transport: {delivery.transport_status}")
        self.stdout.write(f"provider result: {delivery.provider_result or '-'}")
        if delivery.status != DeliveryStatus.SENT:
            self.stdout.write(f"error: {delivery.error}")
            raise CommandError(
                f"refused: {delivery.error or delivery.transport_status}", returncode=1
            )
        self.stdout.write("outcome: sent")
