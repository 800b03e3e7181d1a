from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from django.test import Client, override_settings

from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.tests.conftest import hook_headers, order_body
from traceability.models import LedgerEvent

BODY = order_body({"id": "A1", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})


def post(client: Client, body: bytes, headers: dict[str, str], code: str = "test-shop") -> Any:
    return client.post(
        f"/hooks/{code}/", data=body, content_type="application/json", headers=headers
    )


@pytest.mark.django_db
def test_verified_delivery_is_stored_raw_and_pending(
    client: Client, account: ChannelAccount
) -> None:
    response = post(client, BODY, hook_headers(BODY, delivery="d-1"))
    assert response.status_code == 200
    assert response.content == b'{"ok":true}'
    message = InboundMessage.objects.get()
    assert message.account == account
    assert message.delivery_id == "d-1"
    assert message.dedupe_key == "d-1"
    assert bytes(message.body) == BODY
    assert bytes(message.payload) == BODY
    assert message.status == "pending"
    assert message.duplicate_count == 0
    assert message.headers["x-test-delivery"] == "d-1"
    event = LedgerEvent.objects.get(action="intake.received")
    assert event.references["message_id"] == message.pk
    assert event.references["sha256"] == message.body_sha256
    assert QuarantinedDelivery.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_delivery_is_counted_and_answered_alike(
    client: Client, account: ChannelAccount
) -> None:
    first = post(client, BODY, hook_headers(BODY, delivery="d-1"))
    second = post(client, BODY, hook_headers(BODY, delivery="d-1"))
    assert (first.status_code, first.content) == (second.status_code, second.content)
    message = InboundMessage.objects.get()
    assert message.duplicate_count == 1
    assert message.last_duplicate_at is not None
    assert LedgerEvent.objects.filter(action="intake.received").count() == 1


@pytest.mark.django_db
def test_without_delivery_id_the_body_hash_dedupes(client: Client, account: ChannelAccount) -> None:
    post(client, BODY, hook_headers(BODY))
    post(client, BODY, hook_headers(BODY))
    message = InboundMessage.objects.get()
    assert message.dedupe_key == f"sha256:{message.body_sha256}"
    assert message.duplicate_count == 1


@pytest.mark.django_db
def test_handshake_is_stored_ignored(client: Client, account: ChannelAccount) -> None:
    response = post(client, b"{}", hook_headers(b"{}", **{"x-test-event": "ping"}))
    assert (response.status_code, response.content) == (200, b"pong")
    assert InboundMessage.objects.get().status == "ignored"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (BODY[:-2] + b"X}", None),  # one byte of the body changed
        (BODY, "0" + hook_headers(BODY)["x-test-signature"][1:]),  # one byte of the signature
        (BODY, ""),
    ],
)
def test_failed_verification_is_quarantined_and_refused(
    client: Client, account: ChannelAccount, body: bytes, signature: str | None
) -> None:
    headers = hook_headers(BODY)
    if signature is not None:
        headers["x-test-signature"] = signature
    response = post(client, body, headers)
    assert response.status_code == 401
    assert response.content == b'{"error":"verification failed"}'
    row = QuarantinedDelivery.objects.get()
    assert (row.account_code, row.reason, row.response_status) == (
        "test-shop",
        "signature mismatch",
        401,
    )
    assert bytes(row.body) == body
    assert InboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_unknown_and_disabled_accounts_are_404_and_quarantined(
    client: Client, account: ChannelAccount
) -> None:
    assert post(client, BODY, hook_headers(BODY), code="nope").status_code == 404
    ChannelAccount.objects.filter(pk=account.pk).update(enabled=False)
    assert post(client, BODY, hook_headers(BODY)).status_code == 404
    reasons = list(QuarantinedDelivery.objects.order_by("id").values_list("account_code", "reason"))
    assert reasons == [("nope", "unknown account"), ("test-shop", "account disabled")]
    assert InboundMessage.objects.count() == 0


@pytest.mark.django_db
@override_settings(WEBHOOK_MAX_BODY_BYTES=100)
def test_oversized_body_is_413_and_quarantined(client: Client, account: ChannelAccount) -> None:
    body = b'{"orders":[]' + b" " * 200 + b"}"
    response = post(client, body, hook_headers(body))
    assert response.status_code == 413
    assert QuarantinedDelivery.objects.get().reason.startswith("body larger than 100 bytes")
    assert InboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_get_is_not_allowed(client: Client, account: ChannelAccount) -> None:
    assert client.get("/hooks/test-shop/").status_code == 405


@pytest.mark.django_db
def test_nul_in_headers_and_ids_never_breaks_the_insert(
    client: Client, account: ChannelAccount
) -> None:
    response = post(client, BODY, hook_headers(BODY, delivery="d\x00-1"))
    assert response.status_code == 200
    assert InboundMessage.objects.get().delivery_id == "d\ufffd-1"


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_make_one_row(live_server: Any, account: ChannelAccount) -> None:
    headers = hook_headers(BODY, delivery="same")
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        response = requests.post(
            f"{live_server.url}/hooks/test-shop/", data=BODY, headers=headers, timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    message = InboundMessage.objects.get()
    assert message.duplicate_count == 11
