"""A generic webhook: JSON POST signed with HMAC-SHA256 over the timestamp and the raw body.

Headers: ``X-OrderHub-Timestamp`` (unix seconds), ``X-OrderHub-Signature:
sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>`` and
``X-OrderHub-Reference`` (stable per message: receivers dedupe on it). A receiver recomputes
the HMAC on the bytes it got, compares in constant time and refuses a timestamp more than
5 minutes from its clock (a replayed request). Any 2xx is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from health.alerts.notifiers.base import (
    RESULT_LIMIT,
    DeliveryResult,
    Message,
    NotifierConfig,
    NotifierKindSpec,
    notifier_kinds,
    post_json,
)

TIMESTAMP_HEADER = "X-OrderHub-Timestamp"
SIGNATURE_HEADER = "X-OrderHub-Signature"
REFERENCE_HEADER = "X-OrderHub-Reference"
REPLAY_WINDOW_SECONDS = 300


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def webhook_send(
    config: NotifierConfig, message: Message, *, now: int | None = None
) -> DeliveryResult:
    timestamp = now if now is not None else int(time.time())
    payload = {
        "event": f"incident.{message.kind}",
        "reference": message.reference,
        "severity": message.severity,
        "title": message.title,
        "text": message.text,
        "recipients": list(message.recipients),
        "ack_url": message.ack_url,
        "timestamp": timestamp,
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(config.secret, timestamp, body),
        REFERENCE_HEADER: message.reference,
    }
    summary = {"event": payload["event"], "title": message.title, "bytes": len(body)}

    def interpret(status: int, data: bytes) -> DeliveryResult:
        text = data.decode(errors="replace")[:RESULT_LIMIT]
        if 200 <= status < 300:
            return DeliveryResult(True, f"HTTP {status}", text)
        return DeliveryResult(False, f"HTTP {status}", text, error=f"HTTP {status}: {text}"[:300])

    return post_json(config.url, body, headers=headers, summary=summary, interpret=interpret)


notifier_kinds.add(
    "webhook",
    NotifierKindSpec(
        send=webhook_send, secret_required=True, key_help="the shared HMAC-SHA256 key"
    ),
)
