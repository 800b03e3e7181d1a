"""Checks of what an order would store, run before anything is written.

Every refusal is an ``OrderDataError`` whose field names the value and whose message says
why in words a person can act on ("city is 80 characters, at most 64"), instead of the
database's "value too long for type character varying(64)". Pure: no queries, so calling
them costs a batch no statements.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from orderhub.domain import NormalizedOrder, NormalizedTracking, StatusFactIn
from orderhub.exceptions import OrderDataError
from orderhub.models import Order, OrderLine, StatusFact, TrackingEvent

# How far ahead a deadline (``ship_by``) may be: the configured window is for things that
# already happened.
DEADLINE_MAX_AHEAD = timedelta(days=366)
# Order times that are deadlines rather than events.
_DEADLINES = frozenset({"ship_by"})


def _iso(value: datetime) -> str:
    """The time as the source wrote it (its own offset: converting may overflow)."""
    return value.isoformat().replace("+00:00", "Z")


def time_window(*, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(earliest, latest) accepted time: ``ORDERHUB_TIME_MIN`` and now plus
    ``ORDERHUB_TIME_MAX_AHEAD_SECONDS``."""
    now = now or timezone.now()
    return (
        settings.ORDERHUB_TIME_MIN,
        now + timedelta(seconds=settings.ORDERHUB_TIME_MAX_AHEAD_SECONDS),
    )


def time_check(
    *, field: str, value: datetime, now: datetime | None = None, deadline: bool = False
) -> None:
    """Refuse a time outside the configured window (or without a time zone).

    Aware times compare correctly whatever their offset, even where converting them to UTC
    would overflow (9999-12-31T23:59:59-14:00). A ``deadline`` (ship by) lies in the future
    by nature: it may be up to ``DEADLINE_MAX_AHEAD`` ahead instead of the configured window.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise OrderDataError(field, f"{field} {value.isoformat()} has no time zone")
    earliest, latest = time_window(now=now)
    if value < earliest:
        raise OrderDataError(
            field, f"{field} {_iso(value)} is before {_iso(earliest.astimezone(UTC))}"
        )
    if deadline:
        if value > (now or timezone.now()) + DEADLINE_MAX_AHEAD:
            raise OrderDataError(
                field,
                f"{field} {_iso(value)} is more than {DEADLINE_MAX_AHEAD.days} days ahead of now",
            )
    elif value > latest:
        ahead = settings.ORDERHUB_TIME_MAX_AHEAD_SECONDS
        raise OrderDataError(
            field, f"{field} {_iso(value)} is more than {ahead} seconds ahead of now"
        )


def text_check(*, field: str, value: str, max_length: int | None) -> None:
    """Refuse a string longer than its column."""
    if max_length is not None and len(value) > max_length:
        raise OrderDataError(field, f"{field} is {len(value)} characters, at most {max_length}")


def decimal_check(*, field: str, value: Decimal, max_digits: int, decimal_places: int) -> None:
    """Refuse an amount that does not fit its ``numeric(max_digits, decimal_places)`` column."""
    limit = Decimal(10) ** (max_digits - decimal_places)
    if not value.is_finite() or abs(value) >= limit:
        raise OrderDataError(field, f"{field} {value} is too large, it must be below {limit}")


def _field_check(model: type[models.Model], name: str, value: object, *, label: str) -> None:
    column = model._meta.get_field(name)
    if isinstance(value, str):
        text_check(field=label, value=value, max_length=getattr(column, "max_length", None))
    elif isinstance(value, datetime):
        time_check(field=label, value=value, deadline=name in _DEADLINES)
    elif isinstance(value, Decimal) and isinstance(column, models.DecimalField):
        decimal_check(
            field=label,
            value=value,
            max_digits=column.max_digits or 0,
            decimal_places=column.decimal_places or 0,
        )


def status_fact_check(fact: StatusFactIn, *, label: str = "") -> None:
    """A fact's source time in the window and its texts within their columns.

    ``label`` prefixes the field names (``facts[1].``) when the fact is part of an order; a
    refused time names the fact's raw status too.
    """
    try:
        time_check(field=f"{label}occurred_at", value=fact.occurred_at)
    except OrderDataError as exc:
        raise OrderDataError(exc.field, f"{exc.message} (fact {fact.raw_status!r})") from None
    for name in ("system", "raw_status"):
        _field_check(StatusFact, name, getattr(fact, name), label=f"{label}{name}")


def normalized_order_check(normalized: NormalizedOrder) -> None:
    """Everything a channel message would store for one order fits and is sane.

    Checks the order's identity and scalar fields against their columns (lengths, amounts),
    its times (placed, paid, ship by) and every fact's source time against the window, and its
    lines. Raises ``OrderDataError`` for the first value refused.
    """
    _field_check(Order, "channel", normalized.channel, label="channel")
    _field_check(Order, "external_id", normalized.external_id, label="external_id")
    for name in NormalizedOrder.SCALAR_FIELDS:
        value = getattr(normalized, name)
        if value is not None:
            _field_check(Order, name, value, label=name)
    for index, line in enumerate(normalized.lines or ()):
        prefix = f"lines[{index}]."
        _field_check(OrderLine, "sku", line.sku, label=f"{prefix}sku")
        _field_check(OrderLine, "title", line.title, label=f"{prefix}title")
        _field_check(OrderLine, "unit_price", line.unit_price, label=f"{prefix}unit_price")
        _field_check(OrderLine, "amount", line.amount, label=f"{prefix}amount")
    for index, fact in enumerate(normalized.facts):
        status_fact_check(fact, label=f"facts[{index}].")


def normalized_tracking_check(tracking: NormalizedTracking) -> None:
    """A courier message's waybill and every event's carrier time fit and are sane."""
    _field_check(TrackingEvent, "system", tracking.system, label="system")
    _field_check(
        TrackingEvent, "tracking_number", tracking.tracking_number, label="tracking_number"
    )
    for index, event in enumerate(tracking.events):
        time_check(field=f"events[{index}].occurred_at", value=event.occurred_at)
