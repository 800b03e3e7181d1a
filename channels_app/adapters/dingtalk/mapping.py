"""DingTalk approval (OA 审批) event callbacks, HTTP mode, encrypted.

Query ``msg_signature`` (or ``signature``), ``timeStamp`` (or ``timestamp``, ms), ``nonce``;
body ``{"encrypt": "<base64>"}``. Verification: sha1_hex of the sorted concatenation of
token, timeStamp, nonce and encrypt, timestamp within ±300 s. Decryption: AES-256-CBC with
key = b64decode(aes_key + "="), iv = key[:16], PKCS#7 padding to 32-byte blocks; the plain
text is 16 random bytes | 4-byte big-endian length | message | owner key (corpId or
suiteKey), which must be the account's. Every accepted callback, ``check_url`` included, is
answered with the encrypted ``"success"`` reply ``{msg_signature, timeStamp, nonce, encrypt}``.

Approval instances are the orders (B2B / internal orders approved in DingTalk): the order id
is ``processInstanceId``; one fact ``bpms_instance_change:<type>[:<result>]`` at the event's
``finishTime`` or ``createTime``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    HookResponse,
    InboundRequest,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder, StatusFactIn

BLOCK = 32


def aes_key(account: AccountConfig) -> bytes:
    try:
        key = base64.b64decode(common.secret(account, "aes_key") + "=", validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the account's aes_key is not a 43-character key") from None
    if len(key) != 32:
        raise VerificationError("the account's aes_key is not a 43-character key")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def encrypt(key: bytes, message: bytes, owner_key: str, *, random: bytes | None = None) -> str:
    """DingTalk's callback encryption (used for replies, and by the sandbox for callbacks)."""
    plain = (random or secrets.token_bytes(16)) + struct.pack(">I", len(message)) + message
    plain += owner_key.encode()
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(key: bytes, encrypted: str) -> tuple[bytes, str]:
    """(message, owner key) of an encrypted callback."""
    raw = common.b64decode_strict(encrypted, "encrypt")
    if not raw or len(raw) % 16:
        raise VerificationError("encrypt is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise VerificationError("encrypt has invalid padding")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise VerificationError("encrypt is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise VerificationError("encrypt declares a length beyond its content")
    try:
        owner = plain[20 + length :].decode()
    except UnicodeDecodeError:
        raise VerificationError("encrypt carries an owner key that is not UTF-8") from None
    return plain[20 : 20 + length], owner


def success_reply(account: AccountConfig, request: InboundRequest) -> HookResponse:
    key = aes_key(account)
    token = common.secret(account, "token")
    timestamp = str(int(request.received_at.timestamp() * 1000))
    nonce = secrets.token_hex(8)
    encrypted = encrypt(key, b"success", common.secret(account, "owner_key"))
    return common.json_response(
        200,
        {
            "msg_signature": signature(token, timestamp, nonce, encrypted),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypted,
        },
    )


@adapters.register("dingtalk")
class DingTalkAdapter(ChannelAdapter):
    kind = "dingtalk"
    label = str(_("DingTalk approvals"))
    options = (
        OptionSpec("token", "Callback token", secret=True),
        OptionSpec("aes_key", "Callback EncodingAESKey (43 characters)", secret=True),
        OptionSpec("owner_key", "corpId (or suiteKey) the callbacks are for", secret=True),
    )
    default_status_map = {
        "bpms_instance_change:start": Milestone.PLACED,
        "bpms_instance_change:finish:refuse": Milestone.CANCELLED,
        "bpms_instance_change:terminate": Milestone.CANCELLED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        query = request.query
        given = query.get("msg_signature") or query.get("signature") or ""
        timestamp = query.get("timeStamp") or query.get("timestamp") or ""
        nonce = query.get("nonce") or ""
        if not (given and timestamp and nonce):
            raise VerificationError("missing msg_signature / timeStamp / nonce query parameters")
        if not timestamp.isdigit() or len(timestamp) > 15:
            raise VerificationError("timeStamp is not a unix time in milliseconds")
        common.check_window(request, datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC))
        body = common.peek_json(request.body)
        encrypted = body.get("encrypt") if isinstance(body, dict) else None
        if not isinstance(encrypted, str):
            raise VerificationError('body is not {"encrypt": "..."}')
        expected = signature(common.secret(account, "token"), timestamp, nonce, encrypted)
        if not common.same(expected, given.lower()):
            raise VerificationError("msg_signature does not match")
        message, owner = decrypt(aes_key(account), encrypted)
        if not common.same(common.secret(account, "owner_key"), owner):
            raise VerificationError("callback is for another corpId / suiteKey")
        event = common.peek_json(message)
        event_type = event.get("EventType") if isinstance(event, dict) else None
        return Verified(
            delivery_id="",
            event_type=event_type if isinstance(event_type, str) else "",
            payload=message,
            response=success_reply(account, request),
            process=event_type != "check_url",
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        event = common.mapping(payload, "event")
        event_type = common.text(event.get("EventType"), "EventType", max_length=64)
        if event_type == "check_url":
            return []
        instance = common.text(event.get("processInstanceId"), "processInstanceId", max_length=128)
        change = common.text(event.get("type"), "type", max_length=32)
        result = common.optional_text(event.get("result"), "result", max_length=32)
        raw = f"{event_type}:{change}" + (f":{result}" if result else "")
        stamp = event.get("finishTime") if change != "start" else event.get("createTime")
        when = common.epoch_time(
            stamp or event.get("createTime"), "finishTime/createTime", milliseconds=True
        )
        created = event.get("createTime")
        return [
            NormalizedOrder(
                channel=account.code,
                external_id=instance,
                buyer_note=common.optional_text(event.get("title"), "title", max_length=2000),
                placed_at=common.epoch_time(created, "createTime", milliseconds=True)
                if created
                else None,
                facts=(StatusFactIn(account.system, raw, None, when),),
            )
        ]
