"""HTTP to the platforms, the one client of pull and write-back: session, timeouts, error
classes, bounded retries with backoff and jitter, pacing, and ``OutboundCall`` logging through
a ``CallRecorder``.

Transient answers (timeouts, connection errors, 429, 5xx) are retried a bounded number of
times, waiting at least what the platform asked for (``Retry-After`` or
``x-amzn-RateLimit-Limit``); terminal answers (bad credentials, revoked token) raise
``TerminalError`` at once, so the caller can mark the account and stop calling.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
# Pacing never waits longer than this before one call (a quota of 1/min is not slept out).
MAX_PACE_SECONDS = 5.0


class TransientError(Exception):
    """Worth another attempt later. ``retry_after``: seconds the platform asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The platform answered "too many requests"."""


class TerminalError(Exception):
    """Credentials refused or revoked: calling again will not help until a human acts."""


class PlatformError(Exception):
    """The platform refused the request for a business reason (code and message kept)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_ms: int
    call_id: int | None = None

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)


class CallRecorder(Protocol):
    """Logs each attempt (``OutboundCall``): started before sending, finished after."""

    def start(self, *, operation: str, method: str, url: str, body: str) -> int: ...

    def finish(
        self,
        call_id: int,
        *,
        status: int | None,
        body: str,
        latency_ms: int,
        outcome: str,
        error: str = "",
    ) -> None: ...


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """What the answer asks us to wait: ``Retry-After`` seconds, or one request at the
    ``x-amzn-RateLimit-Limit`` rate (requests per second)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    rate = headers.get("x-amzn-RateLimit-Limit") or headers.get("x-amzn-ratelimit-limit")
    if rate:
        try:
            per_second = float(rate)
        except ValueError:
            return None
        return 1.0 / per_second if per_second > 0 else None
    return None


@dataclass
class Pacer:
    """Spaces calls of one operation at the rate the platform last announced."""

    interval: dict[str, float] = field(default_factory=dict)
    last_call: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, operation: str) -> float:
        with self.lock:
            interval = self.interval.get(operation, 0.0)
            last = self.last_call.get(operation)
        if not interval or last is None:
            return 0.0
        delay = min(MAX_PACE_SECONDS, last + interval - time.monotonic())
        if delay > 0:
            time.sleep(delay)
            return delay
        return 0.0

    def note(self, operation: str, headers: Mapping[str, str]) -> None:
        with self.lock:
            self.last_call[operation] = time.monotonic()
            rate = headers.get("x-amzn-RateLimit-Limit") or headers.get("x-amzn-ratelimit-limit")
            if rate:
                try:
                    per_second = float(rate)
                except ValueError:
                    return
                if per_second > 0:
                    self.interval[operation] = 1.0 / per_second


class HttpClient:
    """One platform session. ``request`` retries transient failures, bounded.

    ``on_rate_limited`` is told each 429 (the poller counts them and slows down).
    """

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        max_wait: float = 8.0,
        recorder: CallRecorder | None = None,
        on_rate_limited: Callable[[float], None] | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    ) -> None:
        self.session = requests.Session()
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.recorder = recorder
        self.on_rate_limited = on_rate_limited
        self.timeout = timeout
        self.pacer = Pacer()

    def _wait(self, state: RetryCallState) -> float:
        backoff = min(self.max_wait, 0.2 * 2 ** (state.attempt_number - 1))
        jittered = backoff * (0.5 + random.random())
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, TransientError) else None
        return min(self.max_wait, max(jittered, asked or 0.0))

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> HttpResult:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts if retry else 1),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(
                    method,
                    url,
                    operation=operation,
                    params=params,
                    data=data,
                    json_body=json_body,
                    headers=headers,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | str | bytes | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> HttpResult:
        self.pacer.wait(operation)
        if json_body is not None:
            sent_body = json.dumps(json_body, ensure_ascii=False)
        elif isinstance(data, bytes):
            sent_body = data.decode("utf-8", "replace")
        elif isinstance(data, str):
            sent_body = data
        else:
            sent_body = json.dumps(dict(data or {}), ensure_ascii=False, default=str)
        call_id = (
            self.recorder.start(operation=operation, method=method, url=url, body=sent_body)
            if self.recorder
            else None
        )
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            latency = int((time.monotonic() - started) * 1000)
            if self.recorder and call_id is not None:
                self.recorder.finish(
                    call_id,
                    status=None,
                    body="",
                    latency_ms=latency,
                    outcome="transient",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            logger.info("channels.http.transient op=%s error=%s", operation, type(exc).__name__)
            raise TransientError(f"{operation}: {type(exc).__name__}") from exc
        latency = int((time.monotonic() - started) * 1000)
        result = HttpResult(
            status=response.status_code,
            headers=dict(response.headers),
            body=response.content,
            latency_ms=latency,
            call_id=call_id,
        )
        self.pacer.note(operation, result.headers)
        transient = response.status_code == 429 or response.status_code >= 500
        if self.recorder and call_id is not None:
            self.recorder.finish(
                call_id,
                status=response.status_code,
                body=response.content.decode("utf-8", "replace")[:10000],
                latency_ms=latency,
                outcome="transient"
                if transient
                else "acknowledged"
                if response.status_code < 400
                else "terminal",
            )
        if transient:
            wait = retry_after_seconds(result.headers)
            if response.status_code == 429:
                logger.info("channels.http.rate_limited op=%s wait=%s", operation, wait)
                if self.on_rate_limited:
                    self.on_rate_limited(wait or 0.0)
                raise RateLimitedError(f"{operation}: HTTP 429", retry_after=wait)
            raise TransientError(f"{operation}: HTTP {response.status_code}", retry_after=wait)
        return result
