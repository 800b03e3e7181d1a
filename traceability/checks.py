"""Start-up checks: a production process must hold the ledger's key, the signing key (the
sealer) or at least its public half (processes that verify checkpoints or serve the key)."""

from __future__ import annotations

import binascii
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from traceability import conf


@register()
def ledger_signing_key_check(**kwargs: Any) -> list[CheckMessage]:
    from traceability.checkpoints import _load_private, key_id, load_public_key_pem

    text = conf.signing_key_text()
    public_text = conf.public_key_text()
    public = None
    if public_text:
        try:
            public = load_public_key_pem(public_text.strip())
        except ValueError as exc:
            return [Error(f"LEDGER_PUBLIC_KEY is unusable: {exc}", id="traceability.E004")]
    if not text:
        if settings.DEBUG or public is not None:
            return []  # development generates a key on first use; a verifier needs no more
        return [
            Error(
                "LEDGER_SIGNING_KEY is not set (nor LEDGER_PUBLIC_KEY): ledger checkpoints can "
                "be neither signed nor verified",
                hint="the sealer needs an Ed25519 private key, base64 of the raw 32 bytes or "
                "PEM; other processes can be given its public key instead (README)",
                id="traceability.E001",
            )
        ]
    try:
        private = _load_private(text)
    except (ImproperlyConfigured, ValueError, binascii.Error) as exc:
        return [Error(f"LEDGER_SIGNING_KEY is unusable: {exc}", id="traceability.E002")]
    if public is not None and key_id(public) != key_id(private.public_key()):
        return [
            Error(
                "LEDGER_PUBLIC_KEY is not the public half of LEDGER_SIGNING_KEY",
                id="traceability.E003",
            )
        ]
    return []
