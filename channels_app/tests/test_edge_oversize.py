"""An oversized delivery gets its 413 through a real server, and is quarantined once."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels_app.models import InboundMessage, QuarantinedDelivery
from conftest import BASE_DIR, subprocess_env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gunicorn_port(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "orderhub.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", "1", "--log-level", "warning",
            ],
            cwd=BASE_DIR, env=subprocess_env(WEBHOOK_MAX_BODY_BYTES=str(1024 * 1024)),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post_raw(port: int, path: str, body: bytes) -> bytes:
    """Send the whole request as a platform would (headers, then every byte), then read."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body)  # a reset here is what the platform saw before: a retry
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.django_db(transaction=True)
def test_a_5_mb_delivery_is_answered_413_and_quarantined_once(gunicorn_port: int) -> None:
    body = b'{"pad":"' + b"x" * (5 * 1024 * 1024) + b'"}'
    answer = _post_raw(gunicorn_port, "/hooks/test-shop/", body)
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), answer[:200]
    assert answer.endswith(b'{"error":"body too large"}')
    rows = list(QuarantinedDelivery.objects.values_list("account_code", "response_status"))
    assert rows == [("test-shop", 413)]
    assert InboundMessage.objects.count() == 0
