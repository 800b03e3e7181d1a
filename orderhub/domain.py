"""Frozen dataclasses that carry order data between layers (adapters → services)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class StatusFactIn:
    """One system's statement that an order reached a status.

    ``milestone`` is ``None`` when the raw status has no mapping (yet).
    """

    system: str
    raw_status: str
    milestone: str | None
    occurred_at: datetime
    source_message_id: int | None = None
    note: str = ""

    @property
    def dedupe_key(self) -> str:
        # The milestone is left out on purpose: mapping a raw status later must find the same fact.
        text = f"{self.system}\x1f{self.raw_status}\x1f{self.occurred_at.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NormalizedLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    title: str = ""

    @property
    def amount(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class NormalizedOrder:
    """What a channel says about one order. ``None`` means "this message did not say"."""

    channel: str
    external_id: str
    buyer_name: str | None = None
    buyer_phone: str | None = None
    buyer_email: str | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None
    postal_code: str | None = None
    currency: str | None = None
    goods_amount: Decimal | None = None
    shipping_amount: Decimal | None = None
    discount_amount: Decimal | None = None
    tax_amount: Decimal | None = None
    total_amount: Decimal | None = None
    order_type: str | None = None
    priority: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    buyer_note: str | None = None
    placed_at: datetime | None = None
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    lines: tuple[NormalizedLine, ...] | None = None
    facts: tuple[StatusFactIn, ...] = field(default=())
    is_test: bool = False

    # Fields copied onto Order as they are when the message carries them.
    SCALAR_FIELDS = (
        "buyer_name", "buyer_phone", "buyer_email", "receiver_name", "receiver_phone",
        "country", "province", "city", "district", "address", "postal_code", "currency",
        "goods_amount", "shipping_amount", "discount_amount", "tax_amount", "total_amount",
        "order_type", "priority", "carrier", "tracking_number", "buyer_note", "placed_at",
        "paid_at", "ship_by",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrackingEventIn:
    """One scan or status event of a parcel as a courier feed reported it.

    ``stage`` is the canonical tracking stage (``TrackingStage``); ``raw_state`` and
    ``raw_substate`` are the provider's own words. ``milestone`` is the order milestone the
    stage stands for (resolved by intake through the editable mapping, ``None`` when none).
    """

    system: str
    carrier: str
    tracking_number: str
    occurred_at: datetime
    stage: str
    raw_state: str
    raw_substate: str = ""
    description: str = ""
    location: str = ""
    milestone: str | None = None
    source_message_id: int | None = None

    @property
    def dedupe_key(self) -> str:
        # The same event pushed again (Kuaidi100 resends the whole trace) is one row.
        text = "\x1f".join(
            (
                self.system,
                self.tracking_number,
                self.occurred_at.astimezone(UTC).isoformat(),
                self.raw_state,
                self.raw_substate,
                self.description,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NormalizedTracking:
    """What one courier-feed message says about one waybill."""

    system: str
    carrier: str
    tracking_number: str
    events: tuple[TrackingEventIn, ...]
    # The provider's monitoring state (Kuaidi100 ``status``: polling, shutdown, abort...).
    monitor_state: str = ""
