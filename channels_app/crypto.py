"""Encryption at rest of channel account secrets (Fernet, keys from the environment).

``CHANNEL_SECRETS_KEYS`` holds one or more Fernet keys, comma-separated; the first encrypts,
all decrypt (rotation: put the new key first, re-save accounts, then drop the old one). With
DEBUG on and no key set, a development key is derived from SECRET_KEY with a warning; with
DEBUG off and no key, any use fails with ``ImproperlyConfigured``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from functools import cache, lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


class SecretsDecryptError(Exception):
    """Stored secrets cannot be decrypted with the configured keys."""


def _keys() -> tuple[str, ...]:
    return tuple(key.strip() for key in settings.CHANNEL_SECRETS_KEYS if key.strip())


@cache
def _fernet(keys: tuple[str, ...], dev_key_allowed: bool) -> MultiFernet:
    if keys:
        try:
            return MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ImproperlyConfigured(f"CHANNEL_SECRETS_KEYS holds an invalid key: {exc}") from exc
    if not dev_key_allowed:
        raise ImproperlyConfigured(
            "CHANNEL_SECRETS_KEYS must be set when DEBUG is off "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )
    logger.warning("channels.secrets.dev_key: CHANNEL_SECRETS_KEYS unset, using a derived key")
    digest = hashlib.sha256(b"orderhub-channel-secrets\x00" + settings.SECRET_KEY.encode()).digest()
    return MultiFernet([Fernet(base64.urlsafe_b64encode(digest))])


def secrets_configured() -> bool:
    return bool(_keys()) or bool(settings.CHANNEL_SECRETS_DEV_KEY_ALLOWED)


def secrets_encrypt(values: dict[str, str]) -> str:
    if not values:
        return ""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False).encode()
    return _fernet(_keys(), settings.CHANNEL_SECRETS_DEV_KEY_ALLOWED).encrypt(text).decode()


def secrets_decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    keys = _keys()
    return dict(_decrypt(token, keys, settings.CHANNEL_SECRETS_DEV_KEY_ALLOWED))


@lru_cache(maxsize=1024)
def _decrypt(
    token: str, keys: tuple[str, ...], dev_key_allowed: bool
) -> tuple[tuple[str, str], ...]:
    # Keyed by the ciphertext and the keys: a changed secret or key set is a new entry, so the
    # cache can never serve a stale value. Saves the AES + HMAC work on every webhook.
    try:
        plain = _fernet(keys, dev_key_allowed).decrypt(token.encode())
    except InvalidToken:
        raise SecretsDecryptError("channel secrets cannot be decrypted with the keys set") from None
    values = json.loads(plain)
    return tuple((str(name), str(value)) for name, value in values.items())
