"""Safe JSON parsing of platform payloads.

Limits: size, nesting depth, no NaN/Infinity, no duplicate keys, no NUL or lone surrogate in
any string (PostgreSQL would refuse them later, far from the cause), numbers with a fraction
or exponent as ``Decimal`` (money is never a float).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 32


class PayloadError(ValueError):
    """The payload is not acceptable JSON. Terminal: parsing it again gives the same answer."""


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"non-finite number {name} not allowed")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise PayloadError(f"bad number {text[:40]!r}") from None
    if not value.is_finite():
        raise PayloadError(f"non-finite number {text[:40]!r} not allowed")
    if value and not -30 <= value.adjusted() <= 30:
        raise PayloadError(f"number {text[:40]!r} out of range")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError(f"duplicate key {key[:60]!r}")
        result[key] = value
    return result


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise PayloadError("NUL character in a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("lone surrogate in a string") from None


def _walk_needed(text: str, max_depth: int) -> bool:
    """Whether the parsed value of ``text`` can break a rule that ``json.loads`` does not check.

    A NUL or a lone surrogate can only come from a ``\\u`` escape (strict UTF-8 has no
    surrogates, and ``json.loads`` refuses raw control characters in strings), and a value
    nests no deeper than the number of ``{`` and ``[`` in its text. Most payloads have neither
    an escape nor that many brackets: walking every string of them again would find nothing.
    """
    if "\\u" in text:
        return True
    return text.count("{") + text.count("[") > max_depth


def _walk(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise PayloadError(f"nested deeper than {max_depth}")
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise PayloadError(f"nested deeper than {max_depth}")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_string(item)


def payload_parse(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse ``data`` as strict UTF-8 JSON within the limits, or raise ``PayloadError``."""
    if len(data) > max_bytes:
        raise PayloadError(f"payload of {len(data)} bytes exceeds {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 at byte {exc.start}") from None
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(
            text,
            parse_float=_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_pairs,
        )
    except RecursionError:
        raise PayloadError(f"nested deeper than {max_depth}") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc.msg} at {exc.pos}") from None
    except ValueError as exc:  # PayloadError, or int longer than Python's digit limit
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"bad number: {str(exc)[:80]}") from None
    if _walk_needed(text, max_depth):
        _walk(value, max_depth)
    return value
