"""WeCom group robot and DingTalk custom robot (signed URL), in their real wire formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import quote_plus

from health.alerts.notifiers.base import (
    DeliveryResult,
    Message,
    NotifierConfig,
    NotifierKindSpec,
    OptionSpec,
    errcode_result,
    message_body,
    notifier_kinds,
    phones,
    post_json,
    truncate_utf8,
    user_ids,
)

# WeCom: 45009 "api freq out of limit" (20 messages a minute per robot) is worth a retry.
WECOM_TRANSIENT = frozenset({45009, -1})
# DingTalk: 130101 "send too fast, exceed 20 times per minute".
DINGTALK_TRANSIENT = frozenset({130101, -1})


def wecom_payload(message: Message, msgtype: str) -> dict[str, object]:
    content = f"{message.title}\n{message_body(message)}"
    if msgtype == "text":
        text: dict[str, object] = {"content": truncate_utf8(content, 2048)}
        if user_ids(message.recipients):
            text["mentioned_list"] = user_ids(message.recipients)
        if phones(message.recipients):
            text["mentioned_mobile_list"] = phones(message.recipients)
        return {"msgtype": "text", "text": text}
    mentions = "".join(f"<@{user}>" for user in user_ids(message.recipients))
    colour = "warning" if message.kind != "resolved" else "info"
    markdown = f'# <font color="{colour}">{message.title}</font>\n{message_body(message)}'
    if mentions:
        markdown += f"\n{mentions}"
    return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(markdown, 4096)}}


def wecom_send(config: NotifierConfig, message: Message) -> DeliveryResult:
    msgtype = config.options.get("msgtype", "markdown")
    payload = wecom_payload(message, msgtype)
    body = json.dumps(payload, ensure_ascii=False).encode()
    summary = {
        "msgtype": msgtype,
        "title": message.title,
        "bytes": len(body),
        "mentions": list(message.recipients),
    }
    return post_json(
        config.url,
        body,
        summary=summary,
        interpret=lambda status, data: errcode_result(
            status, data, transient_codes=WECOM_TRANSIENT
        ),
    )


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """``urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    if not secret:  # a robot secured by keyword or IP list only
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


def dingtalk_payload(message: Message) -> dict[str, object]:
    mobiles = phones(message.recipients)
    text = f"### {message.title}\n\n{message_body(message)}"
    if mobiles:  # DingTalk only rings the people whose @mobile is in the text as well
        text += "\n\n" + " ".join(f"@{mobile}" for mobile in mobiles)
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.title[:64], "text": text},
        "at": {"atMobiles": mobiles, "isAtAll": False},
    }


def dingtalk_send(
    config: NotifierConfig, message: Message, *, now_ms: int | None = None
) -> DeliveryResult:
    timestamp_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    payload = dingtalk_payload(message)
    body = json.dumps(payload, ensure_ascii=False).encode()
    summary = {
        "msgtype": "markdown",
        "title": message.title,
        "bytes": len(body),
        "at_mobiles": phones(message.recipients),
        "signed": bool(config.secret),
    }
    return post_json(
        dingtalk_signed_url(config.url, config.secret, timestamp_ms),
        body,
        summary=summary,
        interpret=lambda status, data: errcode_result(
            status, data, transient_codes=DINGTALK_TRANSIENT
        ),
    )


notifier_kinds.add(
    "wecom",
    NotifierKindSpec(
        send=wecom_send,
        options=(OptionSpec("msgtype", help="markdown (default) or text"),),
        key_help="none: the key in the URL is the secret (the URL is stored encrypted)",
    ),
)
notifier_kinds.add(
    "dingtalk",
    NotifierKindSpec(
        send=dingtalk_send,
        key_help="the robot's signing secret (SEC...), used for timestamp + sign",
    ),
)
