"""Production settings pass Django's deployment checklist; migrations match the models."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BASE_DIR = Path(__file__).resolve().parent.parent
# A throwaway Ed25519 key (base64 of the raw 32 bytes) for the production-settings checks.
LEDGER_KEY = base64.b64encode(
    Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
).decode()


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # DEBUG is passed explicitly: the environment wins over a developer's local .env file.
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests for their own process only.
    skip = {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {key: value for key, value in os.environ.items() if key not in skip}
    environment.setdefault("DEBUG", "false")
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_with_production_settings_is_clean() -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="orderhub.settings.production",
        SECRET_KEY="p" + Fernet.generate_key().decode() * 2,
        ALLOWED_HOSTS="orders.example.com",
        CHANNEL_SECRETS_KEYS=Fernet.generate_key().decode(),
        LEDGER_SIGNING_KEY=LEDGER_KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_without_a_ledger_signing_key_fails_its_checks() -> None:
    result = run_manage(
        "check",
        DJANGO_SETTINGS_MODULE="orderhub.settings.production",
        SECRET_KEY="p" + Fernet.generate_key().decode() * 2,
        ALLOWED_HOSTS="orders.example.com",
        CHANNEL_SECRETS_KEYS=Fernet.generate_key().decode(),
        LEDGER_SIGNING_KEY="",
    )
    assert result.returncode == 1
    assert "(traceability.E001) LEDGER_SIGNING_KEY is not set" in result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    result = run_manage(
        "check", DJANGO_SETTINGS_MODULE="orderhub.settings.production", SECRET_KEY="",
        DEBUG="false",
    )  # fmt: skip
    assert result.returncode == 1
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_migrations_match_models() -> None:
    result = run_manage("makemigrations", "--check", "--dry-run", DEBUG="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "No changes detected"
