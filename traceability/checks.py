"""Start-up checks: a production server must be able to sign ledger checkpoints."""

from __future__ import annotations

import binascii
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from traceability import conf


@register()
def ledger_signing_key_check(**kwargs: Any) -> list[CheckMessage]:
    from traceability.checkpoints import _load_private

    text = conf.signing_key_text()
    if not text:
        if settings.DEBUG:
            return []  # development generates a key on first use
        return [
            Error(
                "LEDGER_SIGNING_KEY is not set: ledger checkpoints cannot be signed",
                hint="set an Ed25519 private key, base64 of the raw 32 bytes or PEM (README)",
                id="traceability.E001",
            )
        ]
    try:
        _load_private(text)
    except (ImproperlyConfigured, ValueError, binascii.Error) as exc:
        return [Error(f"LEDGER_SIGNING_KEY is unusable: {exc}", id="traceability.E002")]
    return []
