"""A leftover DEBUG=true (from .env or the environment) never relaxes production settings."""

from __future__ import annotations

from cryptography.fernet import Fernet

from tests.test_deploy import LEDGER_KEY, run_manage

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "orderhub.settings.production",
    "SECRET_KEY": "p" + Fernet.generate_key().decode() * 2,
    "ALLOWED_HOSTS": "orders.example.com",
    "LEDGER_SIGNING_KEY": LEDGER_KEY,
    # What a developer's .env says; the environment has the same effect and wins over it.
    "DEBUG": "true",
}


def test_production_with_debug_true_and_no_channel_keys_fails_check_deploy() -> None:
    result = run_manage("check", "--deploy", **PRODUCTION, CHANNEL_SECRETS_KEYS="")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "(channels.E002) CHANNEL_SECRETS_KEYS is not set: channel secrets cannot be encrypted"
        in result.stderr
    )


def test_production_with_debug_true_fails_start_up_without_channel_keys() -> None:
    # Any management command runs the system checks first, as a server's start-up does.
    result = run_manage("migrate", "--check", **PRODUCTION, CHANNEL_SECRETS_KEYS="")
    assert result.returncode == 1
    assert "channels.E002" in result.stderr


def test_production_with_debug_true_refuses_the_development_secret_key() -> None:
    result = run_manage("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode == 1
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_production_with_debug_true_and_keys_is_clean() -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION,
        CHANNEL_SECRETS_KEYS=Fernet.generate_key().decode(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
