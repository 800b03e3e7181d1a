"""Allocation certificates: canonical JSON payload, Ed25519 signature, offline verification.

A certificate is ``{"payload": <canonical JSON text>, "signature": <base64 Ed25519 over the
UTF-8 bytes of payload>, "key_id": <first 16 hex of sha256 of the raw public key>}``. The
payload names the order (id, channel, external id), the warehouse code, the wave number,
``claimed_at`` (ISO 8601, UTC), the order's lock ``sequence``, the ``allocation.claimed``
ledger event id and the key id. Ed25519 signatures are deterministic: signing one row twice
gives the same certificate.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from orderhub.allocation import conf
from traceability import checkpoints

ALGORITHM = "Ed25519"
PAYLOAD_FIELDS = (
    "order",
    "channel",
    "external_id",
    "warehouse",
    "wave",
    "claimed_at",
    "sequence",
    "ledger_event",
    "key_id",
)


def canonical_json(values: dict[str, Any]) -> str:
    """Sorted keys, no blanks, non-ASCII kept as UTF-8: one text per value."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signing_key() -> Ed25519PrivateKey:
    """``ALLOCATION_SIGNING_KEY`` when set, otherwise the ledger's signing key."""
    text = conf.signing_key_text().strip()
    if not text:
        return checkpoints.signing_key()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("ALLOCATION_SIGNING_KEY is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ImproperlyConfigured("ALLOCATION_SIGNING_KEY is neither base64 nor PEM") from None
    if len(raw) != 32:
        raise ImproperlyConfigured("ALLOCATION_SIGNING_KEY must be 32 raw bytes in base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def key_id(key: Ed25519PublicKey) -> str:
    return checkpoints.key_id(key)


def public_key_pem(key: Ed25519PublicKey) -> str:
    return checkpoints.public_key_pem(key)


def current_public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def _pem_blocks(text: str) -> list[str]:
    marker = "-----END PUBLIC KEY-----"
    return [block.strip() + "\n" + marker + "\n" for block in text.split(marker) if block.strip()]


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a certificate may be signed with, by key id: the current one and the
    retired ones (``ALLOCATION_PUBLIC_KEYS_RETIRED``)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for block in _pem_blocks(conf.retired_public_keys_text()):
        key = checkpoints.load_public_key_pem(block)
        keys[key_id(key)] = key
    current = current_public_key()
    keys[key_id(current)] = current
    return keys


@dataclass(frozen=True, slots=True)
class Certificate:
    payload: str
    signature: str
    key_id: str

    def as_dict(self) -> dict[str, str]:
        return {"payload": self.payload, "signature": self.signature, "key_id": self.key_id}


def certificate_sign(values: dict[str, Any], key: Ed25519PrivateKey | None = None) -> Certificate:
    """Sign ``values`` (the payload fields but ``key_id``) with ``key`` or the current key."""
    key = key or signing_key()
    kid = key_id(key.public_key())
    payload = canonical_json({**values, "key_id": kid})
    signature = base64.b64encode(key.sign(payload.encode("utf-8"))).decode("ascii")
    return Certificate(payload=payload, signature=signature, key_id=kid)


class CertificateInvalidError(Exception):
    """The certificate does not verify; the message says why."""


def certificate_verify(
    document: Any, keys: dict[str, Ed25519PublicKey] | None = None
) -> dict[str, Any]:
    """The payload's values if ``document`` is a valid certificate, else
    ``CertificateInvalidError``. ``keys`` by key id (default: current and retired keys)."""
    if not isinstance(document, dict):
        raise CertificateInvalidError("a certificate is a JSON object")
    if "certificate" in document and isinstance(document["certificate"], dict):
        document = document["certificate"]  # a whole claim answer
    payload, signature, kid = (document.get(name) for name in ("payload", "signature", "key_id"))
    if not (isinstance(payload, str) and isinstance(signature, str) and isinstance(kid, str)):
        raise CertificateInvalidError("payload, signature and key_id must be strings")
    keys = public_keys() if keys is None else keys
    key = keys.get(kid)
    if key is None:
        raise CertificateInvalidError(f"unknown key id {kid!r}")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise CertificateInvalidError("the signature is not base64") from None
    try:
        key.verify(raw_signature, payload.encode("utf-8"))
    except InvalidSignature:
        raise CertificateInvalidError("the signature does not match the payload") from None
    try:
        values = json.loads(payload)
    except ValueError:
        raise CertificateInvalidError("the payload is not JSON") from None
    if not isinstance(values, dict) or set(values) != set(PAYLOAD_FIELDS):
        raise CertificateInvalidError("the payload does not hold the certificate fields")
    if values["key_id"] != kid:
        raise CertificateInvalidError("the payload's key id differs from the certificate's")
    return values


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text."""
    return checkpoints.load_public_key_pem(text.strip())
