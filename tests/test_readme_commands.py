"""Every ``manage.py`` command in the README's sh blocks works as printed.

The commands are read from README.md itself (backslash continuations joined, comments
dropped) and run in the order printed, in a temporary folder, through ``call_command`` with
their shlex-split arguments, against the test database. What they name is made first: the
demo data (``trace DY2611250001``), ``saved-body.json`` (a Shopify delivery). The one
placeholder that no literal value can satisfy, the signature header ``BASE64_HMAC_OF_THE_BODY``,
is replaced by the HMAC of that file under the secret the README's ``channel_add`` gave
(``WEBHOOK_SECRET``); every other value (``...``, ``ACCESS_TOKEN``) is used as printed.

``sandbox`` and ``sandbox_api`` serve or push until interrupted, ``sandbox_fault`` pushes to a
running server (on port 8000): their printed arguments are only parsed by the command's own
parser, not run.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command, get_commands, load_command_class
from django.utils import timezone

from channels_app.adapters import common
from channels_app.models import ChannelAccount, InboundMessage

BASE_DIR = Path(__file__).resolve().parent.parent
README = BASE_DIR / "README.md"
SHOPIFY_FIXTURE = BASE_DIR / "channels_app/tests/fixtures/shopify/orders_fulfilled.json"
# They run until interrupted, or push to a running server: parsed only.
NOT_RUN = {"sandbox", "sandbox_api", "sandbox_fault"}
SIGNATURE_PLACEHOLDER = "BASE64_HMAC_OF_THE_BODY"


def readme_commands() -> list[list[str]]:
    """Arguments after ``manage.py`` of every command line in the README's sh blocks."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for at, word in enumerate(words):
                if word == "manage.py" or word.endswith("/manage.py"):
                    commands.append(words[at + 1 :])
                    break
    return commands


def test_the_readme_has_the_commands_this_test_knows() -> None:
    names = [command[0] for command in readme_commands()]
    assert names == [
        "channel_add", "channel_add", "ingest", "trace", "trace", "ledger_verify",
        "ledger_verify", "demo_data", "sandbox", "sandbox_api", "channel_add", "channel_add",
        "recovery_report", "recovery_report", "channel_add", "channel_add", "system_reporter_add",
        "drf_create_token", "sandbox", "sandbox", "sandbox_fault", "sandbox_fault", "migrate",
        "collectstatic",
    ]  # fmt: skip


def _saved_delivery(path: Path) -> bytes:
    """A Shopify orders/updated body with recent times, as a platform's log would hold it."""
    recent = (timezone.now() - timedelta(hours=1)).replace(microsecond=0).isoformat()
    text = re.sub(
        r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[-+]\d\d:\d\d)"',
        json.dumps(recent),
        SHOPIFY_FIXTURE.read_text(),
    )
    body = text.encode()
    path.write_bytes(body)
    return body


@pytest.mark.django_db
def test_every_readme_command_runs_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.VAR_DIR = tmp_path / "var"
    settings.STATIC_ROOT = str(tmp_path / "static")
    call_command("demo_data", "--orders", "6", stdout=StringIO())  # `make demo` did this
    body = _saved_delivery(tmp_path / "saved-body.json")
    signature = common.hmac_sha256_b64("WEBHOOK_SECRET", body)

    outputs: dict[str, str] = {}
    for command in readme_commands():
        name, args = (
            command[0],
            [word.replace(SIGNATURE_PLACEHOLDER, signature) for word in command[1:]],
        )
        if name in NOT_RUN:
            parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
            parser.parse_args(args)
            continue
        out = StringIO()
        call_command(name, *args, stdout=out, stderr=StringIO())
        outputs[shlex.join(command)] = out.getvalue()

    shop = ChannelAccount.objects.get(code="shop-global")
    assert (shop.kind, shop.options) == ("shopify", {"shop_domain": "shop-global.myshopify.com"})
    assert (
        outputs[
            "channel_add --kind shopify --code shop-global --secret WEBHOOK_SECRET "
            "--option shop_domain=shop-global.myshopify.com --secret access_token=ACCESS_TOKEN"
        ]
        == "/hooks/shop-global/\n"
    )
    assert ChannelAccount.objects.get(code="youzan-mall").kind == "youzan"
    assert InboundMessage.objects.filter(account=shop).count() == 1
    assert (tmp_path / "trace-DY2611250001.pdf").read_bytes().startswith(b"%PDF-")
    assert outputs["ledger_verify --public-key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert outputs["demo_data --print-logins"].startswith("login: admin / ")
    assert outputs["trace DY2611250001"].startswith("#")
    assert " douyin-flagship:DY2611250001 [" in outputs["trace DY2611250001"].splitlines()[0]
