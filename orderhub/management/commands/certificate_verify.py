"""``manage.py certificate_verify FILE [--public-key PEM_FILE]``: check an allocation
certificate offline. Exit 0 and the certificate's values when valid, 1 and why when not."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orderhub.allocation import certificates


class Command(BaseCommand):
    help = "Verify an allocation certificate (a JSON file, '-' for stdin). Exit 1 if invalid."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the certificate, or a whole claim answer, as JSON")
        parser.add_argument(
            "--public-key",
            help="a PEM public key file to verify with (default: the configured keys)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
            document = json.loads(text)
        except (OSError, ValueError) as exc:
            self._invalid(f"cannot read a JSON certificate from {name}: {exc}")
        keys = None
        if options["public_key"]:
            key = certificates.load_public_key(Path(options["public_key"]).read_text())
            keys = {certificates.key_id(key): key}
        try:
            values = certificates.certificate_verify(document, keys)
        except certificates.CertificateInvalidError as exc:
            self._invalid(str(exc))
        self.stdout.write(
            f"valid: order {values['order']} ({values['channel']}:{values['external_id']}) "
            f"held by {values['warehouse']}, wave {values['wave']}, sequence "
            f"{values['sequence']}, claimed at {values['claimed_at']}, key {values['key_id']}"
        )

    def _invalid(self, reason: str) -> None:
        self.stderr.write(f"invalid: {reason}")
        raise SystemExit(1)
