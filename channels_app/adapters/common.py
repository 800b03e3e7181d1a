"""Small pure helpers shared by the push adapters: compares, windows, money, times, fields.

Everything here raises ``VerificationError`` (authenticity) or ``NormalizeError`` (an
authentic payload that does not make sense); nothing touches the ORM, the network or the
clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from channels_app.adapters.base import (
    AccountConfig,
    HookResponse,
    InboundRequest,
    NormalizeError,
    VerificationError,
)
from channels_app.parsing import PayloadError, payload_parse
from orderhub.choices import Milestone, TrackingStage
from orderhub.domain import TrackingEventIn

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
TIMESTAMP_WINDOW = timedelta(seconds=300)
CENT = Decimal("0.01")
MONEY_LIMIT = Decimal("1000000000000")
# A small JSON parse for handshake detection inside verify; processing re-parses with limits.
PEEK_LIMIT = 256 * 1024


def header(request: InboundRequest, name: str) -> str:
    """A header value ('' when absent); names are matched lower-case."""
    return request.headers.get(name.lower(), "").strip()


def secret(account: AccountConfig, name: str) -> str:
    value = account.secrets.get(name, "")
    if not value:
        raise VerificationError(f"account {account.code} has no secret {name!r} configured")
    return value


def option(account: AccountConfig, name: str) -> str:
    value = account.options.get(name, "")
    if not value:
        raise VerificationError(f"account {account.code} has no option {name!r} configured")
    return value


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two strings or byte strings."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def hmac_sha256_b64(key: str, message: bytes) -> str:
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def md5_hex(message: bytes) -> str:
    return hashlib.md5(message, usedforsecurity=False).hexdigest()


def b64decode_strict(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None


def check_window(
    request: InboundRequest, signed_at: datetime, *, window: timedelta = TIMESTAMP_WINDOW
) -> None:
    """Refuse a delivery whose signed timestamp is outside ±window of our receipt."""
    skew = abs(request.received_at - signed_at)
    if skew > window:
        raise VerificationError(
            f"timestamp outside the {int(window.total_seconds())} s window "
            f"(skew {int(skew.total_seconds())} s)"
        )


def unix_seconds_header(value: str, what: str) -> datetime:
    if not value.isdigit() or len(value) > 12:
        raise VerificationError(f"{what} is not a unix timestamp: {value[:40]!r}")
    return datetime.fromtimestamp(int(value), tz=UTC)


def peek_json(body: bytes) -> Any:
    """Best-effort parse inside verify (handshake detection, delivery ids). ``None`` if not JSON.

    Hostile but authentic bodies must still be stored and then fail in processing with a
    reason, so this never raises.
    """
    if len(body) > PEEK_LIMIT:
        return None
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def loads_nested(text: str, what: str) -> Any:
    """Parse JSON carried inside a JSON string (Douyin ``data``, Youzan ``msg``), same limits
    as the outer payload."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NormalizeError(f"{what}: lone surrogate in the text") from None
    try:
        return payload_parse(data)
    except PayloadError as error:
        raise NormalizeError(f"{what}: {error}") from None


def json_response(status: int, body: Mapping[str, Any]) -> HookResponse:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return HookResponse(status=status, body=text.encode())


# --- payload field readers (NormalizeError with a precise path on anything unexpected) ------


def mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NormalizeError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def sequence(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise NormalizeError(f"{path}: expected an array, got {type(value).__name__}")
    return value


def text(value: Any, path: str, *, max_length: int = 500) -> str:
    """A required identifier-like value: a string or an integer, rendered as a string."""
    if isinstance(value, bool) or value is None:
        raise NormalizeError(f"{path}: expected a string, got {value!r}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise NormalizeError(f"{path}: expected a non-empty string")
    if len(value) > max_length:
        raise NormalizeError(f"{path}: longer than {max_length} characters")
    return value.strip()


def optional_text(value: Any, path: str, *, max_length: int = 500) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise NormalizeError(f"{path}: expected a string, got {type(value).__name__}")
    result = str(value).strip()
    if len(result) > max_length:
        raise NormalizeError(f"{path}: longer than {max_length} characters")
    return result or None


def join_name(*parts: Any) -> str | None:
    words = [str(part).strip() for part in parts if isinstance(part, str) and part.strip()]
    return " ".join(words) or None


def money(value: Any, path: str) -> Decimal:
    """A decimal amount given as a string or a JSON number (already ``Decimal``)."""
    if isinstance(value, bool) or value is None:
        raise NormalizeError(f"{path}: expected an amount, got {value!r}")
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise NormalizeError(f"{path}: {value[:40]!r} is not an amount") from None
    else:
        raise NormalizeError(f"{path}: expected an amount, got {type(value).__name__}")
    if not amount.is_finite() or abs(amount) >= MONEY_LIMIT:
        raise NormalizeError(f"{path}: amount {value!r} is out of range")
    return amount.quantize(CENT)


def optional_money(value: Any, path: str) -> Decimal | None:
    return None if value is None or value == "" else money(value, path)


def fen(value: Any, path: str) -> Decimal:
    """An amount in fen (an integer, or a string of digits) → yuan as ``Decimal``."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise NormalizeError(f"{path}: expected an integer amount in fen, got {value!r}")
    if abs(value) >= MONEY_LIMIT * 100:
        raise NormalizeError(f"{path}: amount {value} is out of range")
    return (Decimal(value) / 100).quantize(CENT)


def optional_fen(value: Any, path: str) -> Decimal | None:
    return None if value is None or value == "" else fen(value, path)


def quantity(value: Any, path: str) -> int:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 1_000_000:
        raise NormalizeError(f"{path}: expected a positive quantity, got {value!r}")
    return value


def iso_time(value: Any, path: str, *, naive_tz: timezone = UTC) -> datetime:
    """An ISO 8601 time; a value without offset is read in ``naive_tz``."""
    if not isinstance(value, str):
        raise NormalizeError(f"{path}: expected an ISO 8601 time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NormalizeError(f"{path}: {value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return moment


def optional_iso_time(value: Any, path: str, *, naive_tz: timezone = UTC) -> datetime | None:
    return None if value is None or value == "" else iso_time(value, path, naive_tz=naive_tz)


def china_time(value: Any, path: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in China time (Youzan), or ISO 8601 with an offset."""
    return iso_time(value, path, naive_tz=CHINA_TZ)


def epoch_time(value: Any, path: str, *, milliseconds: bool = False) -> datetime:
    """Unix seconds (or ms) → an aware time shown at +08:00 (the platforms are in China)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise NormalizeError(f"{path}: expected a unix timestamp, got {value!r}")
    seconds = value / 1000 if milliseconds else value
    if seconds > 32_503_680_000:  # year 3000
        raise NormalizeError(f"{path}: timestamp {value} is out of range")
    return datetime.fromtimestamp(seconds, tz=CHINA_TZ)


# --- courier feeds ------------------------------------------------------------------------
# A courier feed reports waybills, not orders: its adapter returns ``NormalizedTracking`` items
# whose events carry the provider's raw state beside one canonical ``TrackingStage``. Which
# order milestone a stage stands for is data (the kind's editable status mapping); these are the
# shipped defaults: ``collected`` for any stage that proves a carrier scan, ``delivered`` at the
# signature, ``returned`` once the parcel is back with the sender.

TRACKING_STAGE_MILESTONES: Mapping[str, str] = {
    TrackingStage.IN_TRANSIT: Milestone.COLLECTED,
    TrackingStage.OUT_FOR_DELIVERY: Milestone.COLLECTED,
    TrackingStage.AVAILABLE_FOR_PICKUP: Milestone.COLLECTED,
    TrackingStage.FAILED_ATTEMPT: Milestone.COLLECTED,
    TrackingStage.RETURNING: Milestone.COLLECTED,
    TrackingStage.DELIVERED: Milestone.DELIVERED,
    TrackingStage.RETURNED: Milestone.RETURNED,
}


def tracking_event(
    *,
    system: str,
    carrier: str,
    tracking_number: str,
    occurred_at: datetime,
    stage: str,
    raw_state: str,
    raw_substate: str = "",
    description: str = "",
    location: str = "",
) -> TrackingEventIn:
    return TrackingEventIn(
        system=system,
        carrier=carrier[:64],
        tracking_number=tracking_number,
        occurred_at=occurred_at,
        stage=stage,
        raw_state=raw_state[:64],
        raw_substate=raw_substate[:64],
        description=description[:500],
        location=location[:200],
    )
