"""Secrets never leave: a small demo flow with known channel secrets and a known ledger signing
key, and every response body and every log record of it is searched for them."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from rest_framework.authtoken.models import Token

from channels_app.models import ChannelAccount
from channels_app.services import channel_account_create, inbox_process_pending
from channels_app.tests.conftest import (  # the fixtures are used by name
    TEST_KIND,
    TEST_SECRET,
    account,  # noqa: F401
    hook_headers,
    order_body,
    test_adapter,  # noqa: F401
)
from orderhub.models import Order
from traceability.services import ledger_seal_and_checkpoint

KEY = Ed25519PrivateKey.generate()
SIGNING_KEY = base64.b64encode(
    KEY.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
).decode()
SECOND_SECRET = "second-account-secret-9f3a"


def _post(client: Client, code: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        f"/hooks/{code}/", data=body, content_type="application/json", headers=headers
    )


def _texts_of(record: logging.LogRecord) -> str:
    return " ".join([record.getMessage(), repr(record.args), str(record.exc_info or "")])


@pytest.mark.django_db
def test_no_secret_in_any_response_or_log_line_of_a_demo_flow(
    account: ChannelAccount,  # noqa: F811
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_user_model: Any,
    tmp_path: Path,
) -> None:
    settings.LEDGER_SIGNING_KEY = SIGNING_KEY
    settings.LEDGER_PUBLIC_KEY = ""
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caplog.set_level(logging.DEBUG)
    second = channel_account_create(
        kind=TEST_KIND, code="test-shop-2", options={}, secrets={"secret": SECOND_SECRET}
    )
    secrets = [TEST_SECRET, SECOND_SECRET, SIGNING_KEY]
    bodies: list[str] = []
    web = Client()

    # Deliveries: signed ones, a duplicate, a forged one for the second account.
    hooks = []
    for number in [0, 1, 2, 0]:
        body = order_body({"id": f"S{number}", "status": "PAID", "at": "2026-05-01T10:00:00+08:00"})
        hooks.append(_post(web, "test-shop", body, hook_headers(body, delivery=f"d-{number}")))
    forged = {"x-test-signature": "0" * 64, "content-type": "application/json"}
    hooks.append(_post(web, "test-shop-2", body, forged))
    assert [response.status_code for response in hooks] == [200, 200, 200, 200, 401]
    bodies.extend(response.content.decode() for response in hooks)
    assert inbox_process_pending(limit=100) == 3
    assert Order.objects.count() == 3
    ledger_seal_and_checkpoint(force_checkpoint=True)
    order = Order.objects.order_by("id").first()
    assert order is not None

    # Staff pages: the accounts (masked), messages, outbound calls, the trace and its PDF.
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    staff = Client()
    staff.force_login(boss)
    pages = [
        "/admin/channels_app/channelaccount/",
        f"/admin/channels_app/channelaccount/{account.pk}/change/",
        f"/admin/channels_app/channelaccount/{second.pk}/change/",
        "/admin/channels_app/inboundmessage/",
        "/admin/channels_app/outboundcall/",
        "/admin/channels_app/quarantineddelivery/",
        "/admin/traceability/ledgerevent/",
        f"/trace/order/{order.pk}/",
        "/trace/ledger/public-key.pem",
    ]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        bodies.append(response.content.decode())
    pdf = staff.get(f"/trace/order/{order.pk}/pdf/")
    assert pdf.status_code == 200
    bodies.append(pdf.content.decode("latin-1"))

    # The API.
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=boss).key}")
    for path in ("/api/v1/orders/", f"/api/v1/orders/{order.pk}/", "/api/schema/"):
        response = api.get(path)
        assert response.status_code == 200, path
        bodies.append(response.content.decode())

    logs = [_texts_of(record) for record in caplog.records]
    assert logs, "the flow logs something"
    for secret in secrets:
        assert not [b for b in bodies if secret in b], f"a response carries {secret[:4]}..."
        assert not [line for line in logs if secret in line], f"a log line has {secret[:4]}..."
