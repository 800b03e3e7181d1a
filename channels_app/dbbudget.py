"""A time budget for the database work of one delivery: a hung database never hangs intake.

``db_budget(seconds)`` bounds what the block does with the database connection of the calling
thread. Both ways a database can hang are covered:

- connecting (the server accepts the TCP connection and never answers the start-up): a new
  connection made inside the block gives up at the deadline (psycopg's own connection wait,
  given the time left instead of libpq's whole seconds, at least 2);
- a statement or commit that gets no answer: a watchdog thread shuts the connection's socket
  down at the deadline, so psycopg's wait ends at once with ``OperationalError``. A server-side
  ``statement_timeout`` would not do: a hung server never runs it, and a cancel request needs
  a new connection to the same hung server.

Either way the caller sees ``django.db.OperationalError`` and the connection is unusable (the
caller closes it). Whether a cut-off commit took effect is unknown: the caller must treat the
delivery as not stored and keep it where a later store is idempotent (the journal's replay).

Inside an outer transaction (``atomic``) the block is not bounded: cutting the connection
there would throw away the caller's uncommitted work.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import psycopg.connection
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

_connect_deadline: ContextVar[float | None] = ContextVar("db_connect_deadline", default=None)
_timeout_from_conninfo = psycopg.connection.timeout_from_conninfo


def _budgeted_connect_timeout(params: Any) -> float:
    """psycopg's connect timeout, cut to the time left in the current budget."""
    timeout: float = _timeout_from_conninfo(params)
    deadline = _connect_deadline.get()
    if deadline is None:
        return timeout
    return max(0.001, min(timeout, deadline - time.monotonic()))


# psycopg reads the timeout through this module-level name on every connect.
psycopg.connection.timeout_from_conninfo = _budgeted_connect_timeout  # type: ignore[assignment]


class _Watchdog:
    """One thread per process that cuts the socket of a connection whose budget ran out.

    The thread sleeps until the earliest deadline it knows of (``wake_at``) and arming wakes
    it only when the new deadline comes before that: deliveries one after the other, each
    armed and disarmed within its budget, cost no wake-up of their own. Every budget has the
    same length in practice, so the thread wakes about once per budget while deliveries
    arrive (to look at what is armed then) and sleeps without a timeout when nothing is.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.armed: dict[int, tuple[float, BaseDatabaseWrapper]] = {}
        self.cut: set[int] = set()
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None
        self.pid = 0
        # When the thread wakes next by itself (monotonic time; inf: it waits to be notified).
        self.wake_at = math.inf
        self.wakes = 0  # wake-ups of the thread, for tests

    def arm(self, deadline: float, wrapper: BaseDatabaseWrapper) -> int:
        with self.cond:
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()
                self.armed.clear()
                self.wake_at = math.inf
                self.thread = threading.Thread(target=self._run, name="db-budget", daemon=True)
                self.thread.start()
            token = next(self.tokens)
            self.armed[token] = (deadline, wrapper)
            if deadline < self.wake_at:
                self.wake_at = deadline
                self.cond.notify()
            return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True when the watchdog cut the connection meanwhile."""
        with self.cond:
            self.armed.pop(token, None)
            if token in self.cut:
                self.cut.discard(token)
                return True
            return False

    def _run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for token, (deadline, wrapper) in list(self.armed.items()):
                    if deadline <= now:
                        # Under the lock: the owner cannot disarm and close the connection
                        # meanwhile.
                        del self.armed[token]
                        self.cut.add(token)
                        _socket_shutdown(wrapper)
                self.wake_at = min((d for d, _w in self.armed.values()), default=math.inf)
                if self.wake_at == math.inf:
                    self.cond.wait()
                else:
                    self.cond.wait(max(0.0, self.wake_at - now))
                self.wakes += 1


def _socket_shutdown(wrapper: BaseDatabaseWrapper) -> None:
    raw = wrapper.connection
    if raw is None:
        return  # still connecting: psycopg's connect wait ends at the same deadline
    with contextlib.suppress(Exception):
        fd = raw.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()
        logger.warning("channels.db_budget.cut alias=%s", wrapper.alias)


_watchdog = _Watchdog()


@contextlib.contextmanager
def db_budget(seconds: float, alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Bound the block's database work on this thread's ``alias`` connection to ``seconds``.

    Past the deadline, the block's database call raises ``OperationalError``. ``seconds <= 0``
    or an outer ``atomic`` block: no bound.
    """
    wrapper = connections[alias]
    if seconds <= 0 or wrapper.in_atomic_block:
        yield
        return
    deadline = time.monotonic() + seconds
    reset = _connect_deadline.set(deadline)
    token = _watchdog.arm(deadline, wrapper)
    try:
        yield
    finally:
        if _watchdog.disarm(token):
            # Cut just as the block finished: the socket is dead, the connection must go.
            with contextlib.suppress(Exception):
                wrapper.close()
        _connect_deadline.reset(reset)
