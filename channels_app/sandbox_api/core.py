"""What the sandbox platforms build on: requests, replies, faults and call counters.

Imported by every platform module; imports none of them (the server does).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


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


class SandboxCore:
    """What the platforms share: faults, call counters and the effective write-backs.

    The platforms are built on it; ``channels_app.sandbox_api.server.SandboxAPI`` adds the
    HTTP server and the routing to them, so this module imports no platform.
    """

    def __init__(self) -> None:
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        # Effective write-back calls per (platform, order id): what a duplicate would show.
        self.effective: Counter[tuple[str, str]] = Counter()
        self.lock = threading.RLock()

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
