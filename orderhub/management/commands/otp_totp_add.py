"""Enrol a staff user's authenticator: `manage.py otp_totp_add USERNAME`.

Creates a confirmed TOTP device and prints the otpauth:// URL (and the same as a QR code in
text) to scan with an authenticator app. Run it on the server, never paste the URL anywhere
shared: it carries the device's secret.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from traceability.services import ledger_append


class Command(BaseCommand):
    help = "Enrol a TOTP authenticator for a user and print its otpauth:// URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="Device name shown to them.")
        parser.add_argument(
            "--replace", action="store_true", help="Remove the user's other TOTP devices first."
        )
        parser.add_argument("--no-qr", action="store_true", help="Print the URL only.")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist as error:
            raise CommandError(f"No user {options['username']!r}.") from error
        with transaction.atomic():
            removed = 0
            if options["replace"]:
                removed, _ = TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)
            ledger_append(
                action="staff.otp_enrolled",
                actor="manage.py otp_totp_add",
                subject_type="user",
                subject_id=user.pk,
                source_system="orderhub:auth",
                after={"device": device.persistent_id, "replaced": removed},
            )
        url = device.config_url
        self.stdout.write(url)
        if not options["no_qr"]:
            self.stdout.write(_qr_text(url))

    # The URL is the secret: it is printed to this terminal only, never logged.


def _qr_text(text: str) -> str:
    try:
        import qrcode
    except ImportError:
        return "(install the 'qrcode' package for a QR code here; the URL above works as well)"
    code = qrcode.QRCode(border=1)
    code.add_data(text)
    code.make(fit=True)
    rows = code.get_matrix()
    return "\n".join("".join("██" if cell else "  " for cell in row) for row in rows)
