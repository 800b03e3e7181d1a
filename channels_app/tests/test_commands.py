from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.selectors import channel_account_config_get
from channels_app.tests.conftest import TEST_KIND, HmacTestAdapter, order_body, sign
from orderhub.models import Order
from traceability.models import LedgerEvent


@pytest.mark.django_db
def test_channel_add_prints_the_webhook_path(test_adapter: type[HmacTestAdapter]) -> None:
    out = StringIO()
    call_command(
        "channel_add", "--kind", TEST_KIND, "--code", "shop-1", "--secret", "abc==",
        "--option", "region=cn", stdout=out,
    )  # fmt: skip
    assert out.getvalue() == "/hooks/shop-1/\n"
    config = channel_account_config_get(code="shop-1")
    assert dict(config.secrets) == {"secret": "abc=="}
    assert dict(config.options) == {"region": "cn"}


@pytest.mark.django_db
def test_channel_add_accepts_named_secrets_and_refuses_bad_input(
    test_adapter: type[HmacTestAdapter],
) -> None:
    call_command(
        "channel_add", "--kind", TEST_KIND, "--code", "shop-2", "--secret", "secret=x=y",
        stdout=StringIO(),
    )  # fmt: skip
    assert dict(channel_account_config_get(code="shop-2").secrets) == {"secret": "x=y"}
    with pytest.raises(CommandError, match="unknown kind 'nope'"):
        call_command("channel_add", "--kind", "nope", "--code", "x")
    with pytest.raises(CommandError, match="needs secret 'secret'"):
        call_command("channel_add", "--kind", TEST_KIND, "--code", "shop-3")
    assert ChannelAccount.objects.count() == 1


def test_channel_add_help_lists_kinds_options_and_secrets(
    test_adapter: type[HmacTestAdapter],
) -> None:
    from channels_app.management.commands.channel_add import kinds_help

    text = kinds_help()
    assert "test_hmac  (Test HMAC)" in text
    assert "--secret secret=...  [required] signing secret" in text
    assert "--option region=...  [optional] a plain option" in text


@pytest.mark.django_db
def test_ingest_replays_a_saved_payload_as_a_manual_import(
    account: ChannelAccount, tmp_path: Path
) -> None:
    body = order_body({"id": "R1", "status": "PAID", "at": "2026-05-01T10:00:00+08:00"})
    path = tmp_path / "payload.json"
    path.write_bytes(body)
    out = StringIO()
    call_command(
        "ingest", "--channel", "test-shop", str(path), "--header",
        f"X-Test-Signature: {sign(body)}", "--actor", "ops-li", stdout=out,
    )  # fmt: skip
    assert '"status": "processed"' in out.getvalue()
    message = InboundMessage.objects.get()
    assert (message.source, message.actor, message.status) == (
        "manual_import",
        "ops-li",
        "processed",
    )
    assert Order.objects.get().status == "paid"
    event = LedgerEvent.objects.get(action="intake.manual_import")
    assert (event.actor, event.after) == ("ops-li", {"verified": True, "created": True})


@pytest.mark.django_db
def test_ingest_with_a_bad_signature_is_quarantined(
    account: ChannelAccount, tmp_path: Path
) -> None:
    path = tmp_path / "payload.json"
    path.write_bytes(b'{"orders": []}')
    with pytest.raises(CommandError, match="ingest ended quarantined"):
        call_command(
            "ingest", "--channel", "test-shop", str(path), "--header", "X-Test-Signature: 00",
            stdout=StringIO(),
        )  # fmt: skip
    assert QuarantinedDelivery.objects.get().reason.endswith("signature mismatch")
    assert InboundMessage.objects.count() == 0
