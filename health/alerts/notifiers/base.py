"""What every notifier shares: the message, the result, the registry of wire formats.

A notifier kind is one function ``send(config, message) -> DeliveryResult`` that speaks one
wire format and never raises for what the receiver answered: a refusal is a result with
``ok=False`` (``transient`` when trying again later may help: timeouts, 429, 5xx, a provider's
"too fast"). It does no database work; the delivery services record what it returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from orderhub.registry import Registry

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
# How much of an answer body a delivery keeps (the provider's result, never our secrets).
RESULT_LIMIT = 400


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    kind: str
    code: str
    url: str
    secret: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """``kind`` is opened/reminder/resolved/test; ``ack_url`` is empty when there is nothing
    to acknowledge; ``reference`` is a stable id the receiver may dedupe on."""

    kind: str
    title: str
    text: str
    recipients: tuple[str, ...] = ()
    ack_url: str = ""
    reference: str = ""
    severity: str = "warning"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    transport_status: str
    provider_result: str = ""
    transient: bool = False
    error: str = ""
    payload_summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    required: bool = False
    help: str = ""


@dataclass(frozen=True, slots=True)
class NotifierKindSpec:
    send: Callable[[NotifierConfig, Message], DeliveryResult]
    options: tuple[OptionSpec, ...] = ()
    secret_required: bool = False
    key_help: str = ""


notifier_kinds: Registry[NotifierKindSpec] = Registry("notifier kinds")


def phones(recipients: tuple[str, ...]) -> list[str]:
    return [r for r in recipients if r.lstrip("+").isdigit()]


def emails(recipients: tuple[str, ...]) -> list[str]:
    return [r for r in recipients if "@" in r and not r.startswith("@")]


def user_ids(recipients: tuple[str, ...]) -> list[str]:
    return [r for r in recipients if r not in phones(recipients) and r not in emails(recipients)]


def truncate_utf8(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


def message_body(message: Message) -> str:
    lines = [message.text]
    if message.ack_url:
        lines.append(f"Acknowledge / 确认: {message.ack_url}")
    return "\n\n".join(lines)


def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    summary: dict[str, Any],
    interpret: Callable[[int, bytes], DeliveryResult],
) -> DeliveryResult:
    """POST ``body`` (already serialised: signatures are over these exact bytes). Network
    errors and 429/5xx are transient; other answers are read by ``interpret``."""
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        response = requests.post(
            url, data=body, headers=all_headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
    except requests.Timeout as exc:
        return DeliveryResult(
            False, "timeout", transient=True, error=str(exc)[:300], payload_summary=summary
        )
    except requests.ConnectionError as exc:
        return DeliveryResult(
            False, "connection error", transient=True, error=str(exc)[:300], payload_summary=summary
        )
    status = response.status_code
    if status == 429 or status >= 500:
        return DeliveryResult(
            False,
            f"HTTP {status}",
            provider_result=response.text[:RESULT_LIMIT],
            transient=True,
            error=f"HTTP {status}",
            payload_summary=summary,
        )
    result = interpret(status, response.content)
    return DeliveryResult(
        ok=result.ok,
        transport_status=f"HTTP {status}",
        provider_result=result.provider_result,
        transient=result.transient,
        error=result.error,
        payload_summary=summary,
    )


def errcode_result(status: int, body: bytes, *, transient_codes: frozenset[int]) -> DeliveryResult:
    """WeCom and DingTalk answer ``{"errcode": 0, "errmsg": "ok"}``; any other errcode is a
    refusal, even inside HTTP 200."""
    text = body.decode(errors="replace")[:RESULT_LIMIT]
    try:
        answer = json.loads(body)
        code = int(answer["errcode"])
        errmsg = str(answer.get("errmsg", ""))
    except (ValueError, KeyError, TypeError):
        return DeliveryResult(False, f"HTTP {status}", text, error="answer is not errcode JSON")
    result = f"errcode={code} errmsg={errmsg}"
    if status == 200 and code == 0:
        return DeliveryResult(True, f"HTTP {status}", result)
    return DeliveryResult(
        False, f"HTTP {status}", result, transient=code in transient_codes, error=result[:300]
    )
