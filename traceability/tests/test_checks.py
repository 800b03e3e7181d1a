"""The key a process needs: the sealer signs, every other process can do with the public key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_django.fixtures import Settings as SettingsWrapper

from traceability import checkpoints
from traceability.checks import ledger_signing_key_check
from traceability.services import ledger_seal_and_checkpoint
from traceability.tests.test_ledger import append_events, run_verify


def test_production_process_with_the_public_key_only_passes(settings: SettingsWrapper) -> None:
    public = checkpoints.public_key_pem()
    settings.DEBUG = False
    settings.LEDGER_SIGNING_KEY = ""
    settings.LEDGER_PUBLIC_KEY = public
    assert ledger_signing_key_check() == []
    settings.LEDGER_PUBLIC_KEY = ""
    assert [error.id for error in ledger_signing_key_check()] == ["traceability.E001"]


def test_public_key_that_does_not_match_the_signing_key_fails(settings: SettingsWrapper) -> None:
    settings.LEDGER_PUBLIC_KEY = checkpoints.public_key_pem(
        Ed25519PrivateKey.generate().public_key()
    )
    assert [error.id for error in ledger_signing_key_check()] == ["traceability.E003"]
    settings.LEDGER_PUBLIC_KEY = "not a key"
    assert [error.id for error in ledger_signing_key_check()] == ["traceability.E004"]


@pytest.mark.django_db
def test_verify_with_the_public_key_alone(settings: SettingsWrapper) -> None:
    append_events(3)
    ledger_seal_and_checkpoint()
    settings.LEDGER_PUBLIC_KEY = checkpoints.public_key_pem()
    settings.LEDGER_SIGNING_KEY = ""
    settings.DEBUG = False
    code, out, err = run_verify()
    assert (code, err) == (0, "")
    assert "OK: 3 events, head seq 3" in out
    assert "1 signed checkpoints matched" in out
