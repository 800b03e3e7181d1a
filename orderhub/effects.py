"""The one place where work that leaves the database is queued: after commit, never before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def task_on_commit(task: Any, /, **kwargs: Any) -> None:
    """Send a Celery task once the current transaction commits (at once outside one).

    ``task`` is a Celery task; arguments must be ids and JSON values.
    """
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs))


def call_on_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func)
