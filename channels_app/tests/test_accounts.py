from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection

from channels_app.checks import check_account_kinds, check_secrets_keys
from channels_app.crypto import SecretsDecryptError, secrets_decrypt, secrets_encrypt
from channels_app.models import ChannelAccount
from channels_app.selectors import channel_account_config_get, channel_account_config_list
from channels_app.services import channel_account_create
from channels_app.tests.conftest import TEST_KIND, TEST_SECRET, HmacTestAdapter


@pytest.mark.django_db
def test_secrets_are_encrypted_at_rest_and_decrypted_for_adapters(
    account: ChannelAccount,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets_encrypted FROM channels_app_channelaccount WHERE id = %s", [account.pk]
        )
        stored = cursor.fetchone()[0]
    assert TEST_SECRET not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    config = channel_account_config_get(code="test-shop")
    assert (config.code, config.kind, dict(config.secrets)) == (
        "test-shop",
        TEST_KIND,
        {"secret": TEST_SECRET},
    )
    assert config.system == "test_hmac:test-shop"


@pytest.mark.django_db
def test_config_list_skips_disabled_accounts(test_adapter: type[HmacTestAdapter]) -> None:
    for code in ("b-shop", "a-shop"):
        channel_account_create(kind=TEST_KIND, code=code, options={}, secrets={"secret": "x"})
    ChannelAccount.objects.filter(code="b-shop").update(enabled=False)
    assert [c.code for c in channel_account_config_list()] == ["a-shop"]
    assert [c.code for c in channel_account_config_list(enabled_only=False)] == [
        "a-shop",
        "b-shop",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "nope"}, "unknown channel kind 'nope'"),
        ({"secrets": {}}, "test_hmac needs secret 'secret'"),
        ({"options": {"colour": "red"}}, "test_hmac takes no option 'colour'"),
        ({"code": "Not A Slug"}, "code 'Not A Slug' must be a slug"),
    ],
)
def test_create_validates(
    test_adapter: type[HmacTestAdapter], kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "kind": TEST_KIND,
        "code": "shop",
        "options": {},
        "secrets": {"secret": "x"},
    }
    with pytest.raises(ValidationError) as info:
        channel_account_create(**(arguments | kwargs))  # type: ignore[arg-type]
    assert any(m.startswith(message) for m in info.value.messages), info.value.messages
    assert ChannelAccount.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_code_is_refused(account: ChannelAccount) -> None:
    with pytest.raises(ValidationError):
        channel_account_create(
            kind=TEST_KIND, code="test-shop", options={}, secrets={"secret": "y"}
        )
    assert ChannelAccount.objects.count() == 1


def test_keys_rotate_and_production_needs_keys(settings: object) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CHANNEL_SECRETS_KEYS = [old]  # type: ignore[attr-defined]
    token = secrets_encrypt({"a": "1"})
    settings.CHANNEL_SECRETS_KEYS = [new, old]  # type: ignore[attr-defined]
    assert secrets_decrypt(token) == {"a": "1"}
    settings.CHANNEL_SECRETS_KEYS = [new]  # type: ignore[attr-defined]
    with pytest.raises(SecretsDecryptError):
        secrets_decrypt(token)
    settings.CHANNEL_SECRETS_KEYS = []  # type: ignore[attr-defined]
    settings.CHANNEL_SECRETS_DEV_KEY_ALLOWED = False  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured):
        secrets_encrypt({"a": "1"})
    assert [e.id for e in check_secrets_keys()] == ["channels.E002"]


@pytest.mark.django_db
def test_check_fails_for_an_account_of_unknown_kind(account: ChannelAccount) -> None:
    assert check_account_kinds() == []
    ChannelAccount.objects.create(kind="gone", code="old-shop")
    errors = check_account_kinds()
    assert [(e.id, e.msg) for e in errors] == [
        ("channels.E001", "channel account 'old-shop' names unknown kind 'gone'")
    ]
