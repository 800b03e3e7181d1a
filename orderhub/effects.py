"""The one place where work that leaves the database is queued: after commit, never before.

Every task or external effect is sent with ``task_on_commit``. The change it follows is
already committed when it is sent, so a broker that cannot be reached must never turn that
change into an error: the failure is logged (``effects.enqueue_failed``) and the caller goes
on; the work is durable in the database (an outbox row, a due poll) and a beat sweep picks it
up. A view that wants to tell the person wraps its service call in ``enqueue_failures()``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as KombuOperationalError

logger = logging.getLogger(__name__)

# What sending a message raises when the broker is down or unreachable.
ENQUEUE_ERRORS: tuple[type[BaseException], ...] = (KombuOperationalError, OSError)

# What a page says when ``enqueue_failures()`` caught one: the change itself is committed.
UNSENT_MESSAGE = _(
    "The change is saved, but its follow-up work (such as a write-back) could not be queued "
    "just now; the outbox sweep will send it shortly."
)


@dataclass(frozen=True, slots=True)
class EnqueueFailure:
    """A task that could not be sent after commit (the broker refused or was unreachable)."""

    task: str
    kwargs: dict[str, Any]
    error: str


_collecting: contextvars.ContextVar[list[EnqueueFailure] | None] = contextvars.ContextVar(
    "orderhub_enqueue_failures", default=None
)


def task_on_commit(task: Any, /, *, expires: float | None = None, **kwargs: Any) -> None:
    """Send the Celery ``task`` with ``kwargs`` once the current transaction commits (at once
    outside one). ``kwargs`` are ids and JSON values; ``expires`` (seconds) drops a message
    no worker took in time. Never raises for a broker that is down: see the module docstring.
    """
    transaction.on_commit(lambda: _send(task, kwargs, expires))


def _send(task: Any, kwargs: dict[str, Any], expires: float | None) -> None:
    options: dict[str, Any] = {} if expires is None else {"expires": expires}
    try:
        task.apply_async(kwargs=kwargs, **options)
    except ENQUEUE_ERRORS as exc:
        name = str(getattr(task, "name", task))
        logger.warning(
            "effects.enqueue_failed task=%s kwargs=%s error=%s: %s",
            name,
            kwargs,
            type(exc).__name__,
            exc,
        )
        failures = _collecting.get()
        if failures is not None:
            failures.append(
                EnqueueFailure(task=name, kwargs=dict(kwargs), error=f"{type(exc).__name__}: {exc}")
            )


@contextmanager
def enqueue_failures() -> Iterator[list[EnqueueFailure]]:
    """Collect the tasks that could not be sent while the block runs (its own commits
    included), for a page that says "the sweep will send it later"::

        with enqueue_failures() as failed:
            order_transition(...)
        if failed: ...
    """
    failures: list[EnqueueFailure] = []
    token = _collecting.set(failures)
    try:
        yield failures
    finally:
        _collecting.reset(token)
