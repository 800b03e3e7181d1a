"""The intake edge: ``POST /hooks/<code>/`` and token-authenticated ``POST /api/v1/facts/``
answered at the WSGI layer.

A platform's delivery needs none of what Django's middleware does for people (sessions,
authentication, messages, language, CSRF, history), and every millisecond of it counts
against the platform's time limit and our intake rate. The edge checks the host like Django
does, keeps Django's per-request database connection handling (the request_started and
request_finished signals), and calls the same ``hook_deliver`` as the Django view; any other
request goes to the Django application unchanged. A facts request with a DRF token header is
answered by ``facts_intake.facts_accept``, as the DRF view (which takes the other requests,
e.g. a signed-in person's session) answers it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.http.request import split_domain_port, validate_host

from channels_app.services import facts_intake
from channels_app.services.facts_intake import FactsAnswer
from channels_app.views import hook_deliver

logger = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_HOOK_PATH = re.compile(r"^/hooks/(?P<code>[^/]+)/$")
FACTS_PATH = "/api/v1/facts/"
# An oversized body is read and discarded up to this many times the limit before the 413 goes
# out, so the platform (still sending) reads our answer instead of a reset connection and does
# not retry. Past that the answer is sent without reading on.
_DRAIN_FACTOR = 8
_DRAIN_CHUNK = 64 * 1024
_STATUS_TEXT = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden", 404: "Not Found", 413: "Content Too Large",
                500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _host_allowed(environ: dict[str, Any]) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


class _CountingReader:
    """``read(n)`` of the WSGI input that remembers how many bytes were consumed."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.consumed = 0

    def read(self, size: int) -> bytes:
        chunk: bytes = self.stream.read(size)
        self.consumed += len(chunk)
        return chunk


def _drain(reader: _CountingReader, declared_length: str) -> bool:
    """Read and discard the rest of a declared body, within bounds; True when all of it."""
    if not declared_length.isdigit():
        return False
    remaining = int(declared_length) - reader.consumed
    if remaining > _DRAIN_FACTOR * settings.WEBHOOK_MAX_BODY_BYTES:
        return False
    while remaining > 0:
        chunk = reader.read(min(_DRAIN_CHUNK, remaining))
        if not chunk:
            return False
        remaining -= len(chunk)
    return True


def _facts_token(environ: dict[str, Any]) -> str | None:
    """The token of a ``POST /api/v1/facts/`` with ``Authorization: Token <key>`` (what the
    edge answers); None for any other request (Django answers it, e.g. a session's)."""
    if environ.get("PATH_INFO") != FACTS_PATH or environ.get("REQUEST_METHOD") != "POST":
        return None
    parts = environ.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return None
    return parts[1]


def _facts_answer(environ: dict[str, Any], token: str) -> FactsAnswer:
    declared = environ.get("CONTENT_LENGTH") or ""
    size = int(declared) if declared.isdigit() else 0
    if size > facts_intake.MAX_BODY_BYTES:
        return FactsAnswer(413, b'{"detail":"The body is larger than the facts API takes."}')
    body = environ["wsgi.input"].read(size) if size else b""
    try:
        principal = facts_intake.principal_for_token(token)
    except facts_intake.TokenRefusedError as error:
        return FactsAnswer(401, json.dumps({"detail": str(error)}).encode())
    return facts_intake.facts_accept(body=body, principal=principal)


def _facts_edge(environ: dict[str, Any], token: str, start_response: Callable[..., Any]) -> Any:
    """``POST /api/v1/facts/`` with a token: answered here, as the DRF view would."""
    if not _host_allowed(environ):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"Bad Request"]
    signals.request_started.send(sender=hooks_edge, environ=environ)
    try:
        answer = _facts_answer(environ, token)
        status = f"{answer.status} {_STATUS_TEXT.get(answer.status, 'Unknown')}"
        body = answer.body
        headers = [("Content-Type", "application/json")]
        if answer.status == 401:
            headers.append(("WWW-Authenticate", "Token"))
    except Exception:  # as Django does: log it in full, answer 500
        logger.exception("channels.edge.error path=%s", environ.get("PATH_INFO"))
        status, body, headers = "500 Internal Server Error", b"", []
    finally:
        signals.request_finished.send(sender=hooks_edge)
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def hooks_edge(django_app: WSGIApp) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        match = _HOOK_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            token = _facts_token(environ)
            if token is not None:
                return _facts_edge(environ, token, start_response)
            return django_app(environ, start_response)
        if not _host_allowed(environ):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"Bad Request"]
        signals.request_started.send(sender=hooks_edge, environ=environ)
        declared_length = environ.get("CONTENT_LENGTH") or ""
        try:
            reader = _CountingReader(environ["wsgi.input"])
            response = hook_deliver(
                code=match["code"],
                headers=_headers(environ),
                declared_length=declared_length,
                read=reader.read,
                query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            )
            status = f"{response.status} {_STATUS_TEXT.get(response.status, 'Unknown')}"
            body = response.body
            headers = [("Content-Type", response.content_type)]
            if response.status == 413 and not _drain(reader, declared_length):
                # Too much to read for nothing (or no length given): the answer still goes
                # out, but a client that keeps sending may see a reset before it. WSGI lets
                # no application set "Connection: close"; the server closes after a 413
                # whose body it did not read.
                logger.info("channels.edge.oversize_not_drained path=%s", environ["PATH_INFO"])
        except Exception:  # as Django does: log it in full, answer 500 so the platform retries
            logger.exception("channels.edge.error path=%s", environ.get("PATH_INFO"))
            status, body, headers = "500 Internal Server Error", b"", []
        finally:
            signals.request_finished.send(sender=hooks_edge)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return application
