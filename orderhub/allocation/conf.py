"""Allocation configuration, read when used (never at import time).

Django settings win when they define the name; otherwise the project's one environment reader.
"""

from __future__ import annotations

from django.conf import settings

from orderhub.settings.env import env


def _value(name: str, default: str) -> str:
    configured = getattr(settings, name, None)
    if configured not in (None, ""):
        return str(configured)
    return env.str(name, default=default)


def signing_key_text() -> str:
    """``ALLOCATION_SIGNING_KEY``: Ed25519 private key (base64 of the raw 32 bytes, or PEM).
    Empty: the ledger's signing key (``LEDGER_SIGNING_KEY`` or its development key)."""
    return _value("ALLOCATION_SIGNING_KEY", "")


def retired_public_keys_text() -> str:
    """``ALLOCATION_PUBLIC_KEYS_RETIRED``: PEM public keys of retired signing keys, one block
    after the other, so certificates they signed stay verifiable after a rotation."""
    return _value("ALLOCATION_PUBLIC_KEYS_RETIRED", "")


def lease_seconds() -> int:
    """``ALLOCATION_LEASE_SECONDS``: how long a warehouse holds a won order without reporting
    it picked and packed before the order is released to the others."""
    return int(_value("ALLOCATION_LEASE_SECONDS", "14400"))


def wave_size() -> int:
    """``ALLOCATION_WAVE_SIZE``: a picking wave closes once it holds this many orders."""
    return int(_value("ALLOCATION_WAVE_SIZE", "50"))


def wave_minutes() -> int:
    """``ALLOCATION_WAVE_MINUTES``: a picking wave closes this many minutes after it opened."""
    return int(_value("ALLOCATION_WAVE_MINUTES", "30"))
