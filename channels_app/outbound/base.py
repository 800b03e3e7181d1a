"""The contract between the relay and a kind's write-back call.

A writer sends one outbox entry with the platform's real API call and says how it ended:
acknowledged now, or already done before (a re-send after a relay died mid-call, found by
checking the platform first or by its "already shipped" answer). It raises the errors of
``channels_app.http`` for transient and terminal failures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.http import HttpClient
from orderhub.registry import Registry

ACTION_SHIP = "ship_confirm"
ACTION_INTERCEPT = "intercept"


@dataclass(frozen=True, slots=True)
class WriteRequest:
    action: str
    milestone: str
    external_id: str
    payload: Mapping[str, Any]
    idempotency_key: str
    attempt: int


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``already_done``: the platform had the effect before this attempt (no new effect)."""

    already_done: bool
    remote_ref: str = ""
    raw_status: str = ""


Writer = Callable[[AccountConfig, HttpClient, WriteRequest], WriteResult]
writers: Registry[Writer] = Registry("write-back writers")
