from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_django.fixtures import Settings as SettingsWrapper


@pytest.fixture(autouse=True)
def ledger_settings(settings: SettingsWrapper, tmp_path: Path) -> Path:
    """A signing key of the test's own and a checkpoint folder under the test's tmp dir."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"
