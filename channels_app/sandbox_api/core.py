"""The sandbox HTTP server: routing, faults, counters."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Faults:
    """Faults per operation name (``"*"`` = every operation), each consumed as it fires.

    ``rate_limit[op] = n``: the next n calls answer 429; ``server_error[op] = n``: 5xx;
    ``slow[op] = s``: every call waits s seconds first; ``hold_after_effect[op] = s``: a
    write applies its effect, then waits s seconds before answering (kill the caller then);
    ``pause_after[op] = n``: after n calls, further calls wait until ``release()``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rate_limit: Counter[str] = Counter()
        self.server_error: Counter[str] = Counter()
        self.slow: dict[str, float] = {}
        self.hold_after_effect: dict[str, float] = {}
        self.pause_after: dict[str, int] = {}
        self.paused: Counter[str] = Counter()
        self.gate = threading.Event()
        self.gate.set()

    def clear(self) -> None:
        with self.lock:
            self.rate_limit.clear()
            self.server_error.clear()
            self.slow.clear()
            self.hold_after_effect.clear()
            self.pause_after.clear()
        self.gate.set()

    def release(self) -> None:
        with self.lock:
            self.pause_after.clear()
        self.gate.set()

    def _take(self, counter: Counter[str], operation: str) -> bool:
        with self.lock:
            for key in (operation, "*"):
                if counter[key] > 0:
                    counter[key] -= 1
                    return True
        return False

    def before(self, operation: str, calls_so_far: int) -> Reply | None:
        limit = self.pause_after.get(operation)
        if limit is not None and calls_so_far >= limit:
            with self.lock:
                self.paused[operation] += 1
                self.gate.clear()
            self.gate.wait(timeout=120)
        delay = self.slow.get(operation, self.slow.get("*", 0.0))
        if delay:
            time.sleep(delay)
        if self._take(self.rate_limit, operation):
            return Reply(
                429,
                {
                    "errors": [
                        {
                            "code": "QuotaExceeded",
                            "message": "You exceeded your quota for the requested resource.",
                            "details": "",
                        }
                    ]
                },
                {"x-amzn-RateLimit-Limit": "5.0", "Retry-After": "0.2"},
            )
        if self._take(self.server_error, operation):
            return Reply(
                503,
                {
                    "errors": [
                        {
                            "code": "ServiceUnavailable",
                            "message": "Service temporarily unavailable.",
                            "details": "",
                        }
                    ]
                },
            )
        return None

    def after_effect(self, operation: str) -> None:
        delay = self.hold_after_effect.get(operation)
        if delay:
            time.sleep(delay)


Route = Callable[[Request], Reply]


class SandboxAPI:
    """All sandbox platforms on one port. ``start()`` serves in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from channels_app.sandbox_api.amazon import AmazonSandbox
        from channels_app.sandbox_api.douyin import DouyinSandbox
        from channels_app.sandbox_api.pinduoduo import PinduoduoSandbox
        from channels_app.sandbox_api.shops import ShopsSandbox

        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        # Effective write-back calls per (platform, order id): what a duplicate would show.
        self.effective: Counter[tuple[str, str]] = Counter()
        self.lock = threading.RLock()
        self.amazon = AmazonSandbox(self)
        self.pinduoduo = PinduoduoSandbox(self)
        self.douyin = DouyinSandbox(self)
        self.shops = ShopsSandbox(self)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("sandbox_api " + format, *args)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = api.dispatch(request)
                data = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller died while we held the answer: that is the point

            do_GET = do_POST = do_PUT = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> SandboxAPI:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.faults.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, operation: str) -> int:
        with self.lock:
            self.calls[operation] += 1
            return self.calls[operation] - 1

    def guarded(self, operation: str, handler: Callable[[], Reply]) -> Reply:
        """Count the call, apply faults, then answer."""
        before = self.count(operation)
        fault = self.faults.before(operation, before)
        if fault is not None:
            return fault
        return handler()

    def dispatch(self, request: Request) -> Reply:
        try:
            if request.path.startswith("/_sandbox/"):
                return self._control(request)
            for platform in (self.amazon, self.pinduoduo, self.douyin, self.shops):
                reply = platform.route(request)
                if reply is not None:
                    return reply
            return Reply(404, {"error": "not found", "path": request.path})
        except (ValueError, KeyError, TypeError) as exc:
            return Reply(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _control(self, request: Request) -> Reply:
        if request.path == "/_sandbox/stats":
            with self.lock:
                return Reply(
                    200,
                    {
                        "calls": dict(self.calls),
                        "effective": {f"{p}:{o}": n for (p, o), n in self.effective.items()},
                    },
                )
        if request.path == "/_sandbox/faults" and request.method == "POST":
            body = request.json() or {}
            with self.faults.lock:
                self.faults.rate_limit.update(body.get("rate_limit", {}))
                self.faults.server_error.update(body.get("server_error", {}))
                self.faults.slow.update(body.get("slow", {}))
                self.faults.hold_after_effect.update(body.get("hold_after_effect", {}))
            if body.get("expire_tokens"):
                self.amazon.expire_tokens()
            return Reply(200, {"ok": True})
        if request.path == "/_sandbox/faults/clear":
            self.faults.clear()
            return Reply(200, {"ok": True})
        return Reply(404, {"error": "unknown control path"})
