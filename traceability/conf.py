"""Ledger configuration, read when used (never at import time).

Django settings win when they define the name; otherwise the project's one environment reader.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from orderhub.settings.env import BASE_DIR, env


def _value(name: str, default: str) -> str:
    configured = getattr(settings, name, None)
    if configured not in (None, ""):
        return str(configured)
    return env.str(name, default=default)


def signing_key_text() -> str:
    """``LEDGER_SIGNING_KEY``: Ed25519 private key, base64 of the raw 32 bytes or PEM."""
    return _value("LEDGER_SIGNING_KEY", "")


def public_key_text() -> str:
    """``LEDGER_PUBLIC_KEY``: the signing key's public half (PEM), for processes that verify
    checkpoints or serve the key but never sign (they need no ``LEDGER_SIGNING_KEY``)."""
    return _value("LEDGER_PUBLIC_KEY", "")


def key_dir() -> Path:
    """``LEDGER_KEY_DIR``: where a development key is generated when none is configured."""
    return Path(_value("LEDGER_KEY_DIR", str(BASE_DIR / "var" / "keys")))


def checkpoint_dir() -> Path:
    """``LEDGER_CHECKPOINT_DIR``: signed checkpoints, outside the database."""
    return Path(_value("LEDGER_CHECKPOINT_DIR", str(BASE_DIR / "var" / "ledger-checkpoints")))


def checkpoint_interval_seconds() -> int:
    """``LEDGER_CHECKPOINT_INTERVAL``: one signed checkpoint per this many seconds is kept as a
    file of its own (the newest is signed by every seal run that sealed something)."""
    return int(_value("LEDGER_CHECKPOINT_INTERVAL", "60"))


def seal_lookback_ids() -> int:
    """``LEDGER_SEAL_LOOKBACK``: how many ids below the newest sealed event the sealer
    re-examines for events whose transaction committed late."""
    return int(_value("LEDGER_SEAL_LOOKBACK", "100000"))
