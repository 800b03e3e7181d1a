"""The contract between intake and a channel adapter.

An adapter is pure: it verifies a raw request and turns a payload into frozen dataclasses.
It never touches the ORM, the network or the clock (the request carries ``received_at``), so
it can be tested with recorded payloads alone. Secrets reach it through ``AccountConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from orderhub.domain import NormalizedOrder, NormalizedTracking
from orderhub.registry import Registry


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One ``--option`` / ``--secret`` an account of this kind takes (shown in --help)."""

    name: str
    help: str
    required: bool = True
    secret: bool = False


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """What an adapter may know of a ChannelAccount: plain values, secrets decrypted."""

    code: str
    kind: str
    options: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def system(self) -> str:
        """The ``StatusFact.system`` name for facts this account reports."""
        return f"{self.kind}:{self.code}"


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook delivery exactly as received. Header names are lower-case."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class HookResponse:
    """What the platform expects to hear back."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Verified:
    """A delivery that passed verification.

    ``payload`` is what processing will parse: the body itself, or its decrypted content for
    platforms that encrypt (WeChat Pay resource, DingTalk callback). ``delivery_id`` is the
    platform's own delivery/event id ('' when it sends none; intake then dedupes by body hash).
    ``process`` is False for handshakes and pings (stored, answered, never normalized).
    """

    delivery_id: str
    event_type: str
    payload: bytes
    response: HookResponse
    process: bool = True


class VerificationError(Exception):
    """The delivery is not authentic (or not parseable enough to tell). Quarantined."""

    def __init__(self, reason: str, *, response: HookResponse | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response or HookResponse(
            status=401, body=b'{"error":"verification failed"}'
        )


# Feedback kinds as adapters report them (the values of ``health.choices.FeedbackKind``).
FEEDBACK_RETURN = "return"
FEEDBACK_COMPLAINT = "complaint"
FEEDBACK_REVIEW = "review"


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """A return, complaint or review one platform message reports about an order.

    ``external_id`` is the platform's own id of the after-sale, dispute or review: the same
    id in a later message is the same report with its ``status`` moved on. ``status_at`` is
    the platform's time of that status, ``opened_at`` the time the report was opened, each
    ``None`` when the message does not carry it (the service then uses the receipt time).
    ``detail`` keeps the platform's own fields worth showing (amounts, reason codes).
    """

    external_order_id: str
    kind: str
    external_id: str
    status: str
    status_at: datetime | None = None
    opened_at: datetime | None = None
    rating: int | None = None
    positive: bool | None = None
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


class NormalizeError(Exception):
    """The payload is authentic but cannot be turned into an order. Terminal, not retried."""


class ChannelAdapter:
    """Base class of push adapters. Subclasses set the class attributes and both methods."""

    kind: ClassVar[str]
    label: ClassVar[str]
    options: ClassVar[tuple[OptionSpec, ...]] = ()
    # Raw status (as the adapter writes it on facts) → canonical milestone, shipped defaults.
    default_status_map: ClassVar[Mapping[str, str]] = {}

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        """Check authenticity on the raw bytes (constant-time compares, timestamp windows)."""
        raise NotImplementedError

    def normalize(
        self, account: AccountConfig, payload: Any
    ) -> Sequence[NormalizedOrder | NormalizedTracking]:
        """Turn a parsed payload (JSON values, money as ``Decimal``) into orders, or, for a
        courier feed, into the waybills it reports (``NormalizedTracking``).

        Facts carry ``milestone=None``: intake resolves raw statuses through the editable
        mapping table, whose defaults are ``default_status_map``.
        """
        raise NotImplementedError

    def feedback_expected(self, event_type: str) -> bool:
        """Whether a message of this event type may carry feedback (a cheap check on the
        stored event type, so other messages are not parsed twice). Default: never."""
        return False

    def feedback(
        self, account: AccountConfig, payload: Any, *, event_type: str
    ) -> Sequence[FeedbackReport]:
        """The returns, complaints and reviews a parsed payload reports (pure, like
        ``normalize``; a payload ``normalize`` accepted never fails here). Default: none."""
        return ()


adapters: Registry[type[ChannelAdapter]] = Registry("channel adapters")


# The merchant's own systems (WMS, ERP, TMS) report through ``POST /api/v1/facts/`` and
# ``/api/v1/stock/`` with a token (``channels_app.api``), never by webhook.
SYSTEM_KINDS: tuple[str, ...] = ("wms", "erp", "tms")


class SystemFeedAdapter(ChannelAdapter):
    """Base of the system kinds: their options and shipped status words; nothing arrives by
    webhook, so a delivery to ``/hooks/<code>/`` is refused."""

    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec(
            "warehouse",
            "Code of the warehouse this system speaks for (left out: every warehouse)",
            required=False,
        ),
    )

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        raise VerificationError(
            f"{account.kind} accounts report through POST /api/v1/facts/; there is no webhook"
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        raise NormalizeError(f"{account.kind} accounts report through the facts API")
