"""Signed checkpoints of the chain head, kept as files outside the database.

A checkpoint states "after ``seq`` events the chain head was ``head_hash``" and is signed with
the ledger's Ed25519 key. Whoever holds only the public key can check it offline; a database
role cannot forge or move it.

The folder holds ``checkpoint-newest.json``, replaced (atomically) by every sealer run that
sealed something, so the newest events are covered within the seal cadence; and one file
``checkpoint-<seq>.json`` per ``LEDGER_CHECKPOINT_INTERVAL`` at most, never rewritten, the
history that places older events (the trace report cites them).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from traceability import conf

logger = logging.getLogger(__name__)

DEV_KEY_NAME = "ledger-ed25519.pem"
NEWEST_NAME = "checkpoint-newest.json"
LOCK_NAME = ".checkpoint.lock"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    head_hash: str
    count: int
    signed_at: str
    key_id: str
    signature: str

    def signed_message(self) -> bytes:
        body = {
            "seq": self.seq,
            "head_hash": self.head_hash,
            "count": self.count,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _load_private(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("LEDGER_SIGNING_KEY is not an Ed25519 key")
        return key
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ImproperlyConfigured("LEDGER_SIGNING_KEY must be 32 raw bytes in base64, or PEM")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    """The configured key; with none configured, the development key under ``LEDGER_KEY_DIR``
    (generated on first use when ``DEBUG`` is on)."""
    text = conf.signing_key_text()
    if text:
        return _load_private(text)
    path = conf.key_dir() / DEV_KEY_NAME
    if path.exists():
        return _load_private(path.read_text())
    if not settings.DEBUG:
        raise ImproperlyConfigured(
            "LEDGER_SIGNING_KEY is not set (an Ed25519 private key, base64 or PEM)."
        )
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    logger.warning(
        "ledger.key.generated development signing key written to %s; set LEDGER_SIGNING_KEY "
        "in production",
        path,
    )
    return key


def public_key() -> Ed25519PublicKey:
    """``LEDGER_PUBLIC_KEY`` when set, otherwise the signing key's public half."""
    text = conf.public_key_text()
    if text:
        return load_public_key_pem(text.strip())
    return signing_key().public_key()


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(text: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(text.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_sign(*, seq: int, head_hash: str, count: int, signed_at: str) -> Checkpoint:
    key = signing_key()
    unsigned = Checkpoint(seq, head_hash, count, signed_at, key_id(key.public_key()), "")
    signature = base64.b64encode(key.sign(unsigned.signed_message())).decode()
    return Checkpoint(seq, head_hash, count, signed_at, unsigned.key_id, signature)


def _write(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (a reader sees the old file or the new one), read-only."""
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    temporary.write_text(json.dumps(asdict(checkpoint), indent=1, sort_keys=True))
    temporary.chmod(0o444)
    os.replace(temporary, path)


def checkpoint_store(checkpoint: Checkpoint, directory: Path | None = None) -> Path:
    """Keep one checkpoint as a file of its own. An existing one is left alone."""
    directory = directory or conf.checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{checkpoint.seq:012d}.json"
    if not path.exists():
        _write(path, checkpoint)
    return path


def checkpoint_newest_store(checkpoint: Checkpoint, directory: Path | None = None) -> Path:
    """Make ``checkpoint`` the newest one (replaces ``checkpoint-newest.json``)."""
    directory = directory or conf.checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / NEWEST_NAME
    _write(path, checkpoint)
    return path


@contextmanager
def checkpoint_folder_lock(directory: Path | None = None) -> Iterator[None]:
    """An exclusive lock on the folder (a lock file), held while a checkpoint is chosen and
    written: two sealer runs finishing together never put an older head over a newer one."""
    directory = directory or conf.checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _read(path: Path) -> Checkpoint:
    try:
        return Checkpoint(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"malformed checkpoint file {path.name}: {exc}") from exc


def checkpoint_newest(directory: Path | None = None) -> Checkpoint | None:
    """The checkpoint of the highest seq: ``checkpoint-newest.json``, or (a folder written
    before it existed) the highest kept file. Its signature is not checked here."""
    directory = directory or conf.checkpoint_dir()
    path = directory / NEWEST_NAME
    if path.exists():
        return _read(path)
    kept = _kept_seqs(directory)
    return _read(directory / f"checkpoint-{kept[-1]:012d}.json") if kept else None


def _kept_seqs(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(
        int(path.stem.removeprefix("checkpoint-"))
        for path in directory.glob("checkpoint-*.json")
        if path.stem.removeprefix("checkpoint-").isdigit()
    )


def checkpoint_list(directory: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the folder (the kept ones and the newest), by seq; the newest may
    repeat the last kept one. A malformed file raises ``ValueError``."""
    directory = directory or conf.checkpoint_dir()
    if not directory.is_dir():
        return []
    checkpoints = [_read(path) for path in sorted(directory.glob("checkpoint-*.json"))]
    return sorted(checkpoints, key=lambda checkpoint: checkpoint.seq)


def checkpoint_signature_valid(checkpoint: Checkpoint, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_message())
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_covering(seq: int, directory: Path | None = None) -> Checkpoint | None:
    """The earliest kept checkpoint at or after ``seq``, else the newest when it covers ``seq``
    (its signature is not checked here)."""
    directory = directory or conf.checkpoint_dir()
    found = next((number for number in _kept_seqs(directory) if number >= seq), None)
    if found is not None:
        return _read(directory / f"checkpoint-{found:012d}.json")
    newest = checkpoint_newest(directory)
    return newest if newest is not None and newest.seq >= seq else None
