"""The contract between the poll service and a pulled kind.

A puller does the HTTP (or ERP database) side of one account: it fetches one page from a
cursor and returns the raw messages to store and the cursor to save with them. It never
reads or writes our database: the poll service hands it what it needs as plain values (the
clock in ``PullContext``, the stored pushes it completes as ``StoredPush``) and stores the page
and the cursor in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from channels_app.adapters.base import AccountConfig
from orderhub.registry import Registry


@dataclass(frozen=True, slots=True)
class PulledMessage:
    """One raw record as the platform returned it, stored in the inbox like a push.

    ``delivery_id`` is the dedupe key: the record's id and version (update time or row
    version), so the same version fetched twice is one inbox row.
    """

    delivery_id: str
    event_type: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Page:
    messages: tuple[PulledMessage, ...]
    cursor: Mapping[str, Any]
    done: bool


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """What a channel's list API says about one order, for reconciliation."""

    external_id: str
    raw_status: str
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PullContext:
    """What a puller may use besides the account: the clock and rate-limit feedback."""

    now: datetime
    on_rate_limited: Callable[[float], None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# The cursor key under which a puller that completes pushes keeps the inbox id of the last
# stored push it handled.
PUSH_CURSOR = "push_id"


@dataclass(frozen=True, slots=True)
class StoredPush:
    """A webhook delivery of the polled account, already in the inbox."""

    id: int
    payload: bytes


class Puller(Protocol):
    # How many stored pushes after ``cursor[PUSH_CURSOR]`` the poll service reads and hands to
    # ``page`` (0: the puller completes no pushes and the service reads none).
    push_batch: int

    def page(self, cursor: Mapping[str, Any], pushes: Sequence[StoredPush] = ()) -> Page:
        """Fetch the page the cursor points at (an empty cursor starts from the default).

        ``pushes``: the account's stored webhook deliveries after ``cursor[PUSH_CURSOR]``, in
        inbox order, at most ``push_batch`` of them.
        """
        ...

    def channel_list(self, start: datetime, end: datetime) -> list[ChannelRecord]:
        """Every order the channel updated in [start, end), with its current raw status."""
        ...

    def fetch(self, external_ids: list[str]) -> list[PulledMessage]:
        """The full current record of each order, as inbox messages (for replay)."""
        ...


PullerFactory = Callable[[AccountConfig, PullContext], Puller]
pullers: Registry[PullerFactory] = Registry("pullers")
