"""``channel_add --secret VALUE`` sets the kind's main secret; ``NAME=VALUE`` the others."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_app.adapters.base import adapters
from channels_app.management.commands.channel_add import parse_secrets
from channels_app.models import ChannelAccount
from channels_app.selectors import channel_account_config_get


@pytest.mark.django_db
def test_a_bare_secret_is_shopifys_webhook_secret_and_named_ones_the_others() -> None:
    call_command(
        "channel_add", "--kind", "shopify", "--code", "shop-global", "--secret", "WEBHOOK_SECRET",
        "--option", "shop_domain=shop-global.myshopify.com", "--secret", "access_token=tok=",
        stdout=StringIO(),
    )  # fmt: skip
    assert dict(channel_account_config_get(code="shop-global").secrets) == {
        "webhook_secret": "WEBHOOK_SECRET", "access_token": "tok=",
    }  # fmt: skip


def test_the_main_secret_is_the_kinds_first_secret() -> None:
    specs = adapters.get("pinduoduo").options
    assert parse_secrets(["abc=="], specs) == {"client_secret": "abc=="}
    assert parse_secrets(["x=y", "access_token=t"], specs) == {
        "client_secret": "x=y", "access_token": "t",
    }  # fmt: skip
    assert parse_secrets(["client_secret=s", "access_token=t"], specs) == {
        "client_secret": "s", "access_token": "t",
    }  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (["one", "two"], r"the main secret \(client_secret\) is already set"),
        (["client_secret=s", "bare"], r"the main secret \(client_secret\) is already set"),
        (["access_token=a", "access_token=b"], "--secret access_token: given twice"),
    ],
)
def test_a_secret_given_twice_is_refused(secrets: list[str], message: str) -> None:
    args = [arg for value in secrets for arg in ("--secret", value)]
    with pytest.raises(CommandError, match=message):
        call_command("channel_add", "--kind", "pinduoduo", "--code", "pdd-1", *args)
    assert ChannelAccount.objects.count() == 0
