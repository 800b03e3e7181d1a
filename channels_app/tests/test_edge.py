"""The intake edge answers webhook deliveries at the WSGI layer, exactly as the view does."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from channels_app.models import ChannelAccount, InboundMessage, QuarantinedDelivery
from channels_app.tests.conftest import hook_headers, order_body
from orderhub.wsgi import application


def call(
    path: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST",
    host: str = "localhost",
) -> tuple[str, dict[str, str], bytes]:  # fmt: skip
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": host,
        "SERVER_PORT": "80", "HTTP_HOST": host, "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "CONTENT_LENGTH": str(len(body)),
    }  # fmt: skip
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    chunks: Iterable[bytes] = application(environ, start_response)
    body_out = b"".join(chunks)
    close: Callable[[], None] | None = getattr(chunks, "close", None)
    if close:
        close()
    return answer["status"], answer["headers"], body_out


@pytest.mark.django_db(transaction=True)
def test_edge_stores_a_verified_delivery_once(account: ChannelAccount) -> None:
    body = order_body({"id": "E-1", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})
    first = call("/hooks/test-shop/", body, hook_headers(body, "edge-1"))
    again = call("/hooks/test-shop/", body, hook_headers(body, "edge-1"))
    assert first == ("200 OK", {"Content-Type": "application/json", "Content-Length": "11"},
                     b'{"ok":true}')  # fmt: skip
    assert again == first
    message = InboundMessage.objects.get(account=account)
    assert (message.delivery_id, message.duplicate_count, bytes(message.body)) == (
        "edge-1", 1, body,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_edge_quarantines_a_bad_signature_and_an_unknown_account(account: ChannelAccount) -> None:
    body = order_body({"id": "E-2", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})
    forged = {**hook_headers(body), "x-test-signature": "0" * 64}
    assert call("/hooks/test-shop/", body, forged)[0] == "401 Unauthorized"
    assert call("/hooks/nobody/", body, hook_headers(body))[0] == "404 Not Found"
    assert InboundMessage.objects.count() == 0
    assert sorted(QuarantinedDelivery.objects.values_list("account_code", flat=True)) == [
        "nobody", "test-shop",
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_edge_refuses_an_unknown_host_and_leaves_other_requests_to_django(
    account: ChannelAccount,
) -> None:
    body = order_body({"id": "E-3", "status": "CREATED", "at": "2026-05-01T10:00:00+08:00"})
    assert call("/hooks/test-shop/", body, hook_headers(body), host="evil.example")[0] == (
        "400 Bad Request"
    )
    assert InboundMessage.objects.count() == 0
    assert QuarantinedDelivery.objects.count() == 0
    # GET on a hook and any other path are Django's: 405 from the view, 200 from healthz.
    assert call("/hooks/test-shop/", method="GET")[0].startswith("405")
    status, _headers, payload = call("/healthz", method="GET")
    assert (status, payload) == ("200 OK", b'{"status": "ok"}')
