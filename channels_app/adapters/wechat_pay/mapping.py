"""WeChat Pay APIv3 payment / refund notifications (mini program JSAPI payments).

Verification: RSA-SHA256 (PKCS#1 v1.5) over
``Wechatpay-Timestamp + "\\n" + Wechatpay-Nonce + "\\n" + raw body + "\\n"`` with the
platform public key whose id is ``Wechatpay-Serial`` (the account's ``platform_serial`` /
``platform_public_key``), timestamp within ±300 s. Then the ``resource`` is decrypted with
AEAD_AES_256_GCM under the APIv3 key (nonce and associated data from the resource).

``Verified.payload`` is ``{"id", "event_type", "create_time", "resource": <decrypted JSON>}``,
built around the decrypted bytes so nothing is re-serialized. Success is answered 200
``{"code":"SUCCESS"}``; a failure 401 ``{"code":"FAIL","message":…}`` so the platform retries.
One fact per notification: the ``event_type`` at the resource's ``success_time``; amounts
are in fen.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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

SUCCESS = HookResponse(status=200, body=b'{"code":"SUCCESS"}')


def fail(reason: str) -> VerificationError:
    return VerificationError(
        reason, response=common.json_response(401, {"code": "FAIL", "message": reason})
    )


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise fail("the account's platform_public_key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise fail("the account's platform_public_key is not an RSA key")
    return key


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


@adapters.register("wechat_pay")
class WechatPayAdapter(ChannelAdapter):
    kind = "wechat_pay"
    label = str(_("WeChat Pay (mini program)"))
    options = (
        OptionSpec("mchid", "Merchant id (mchid)"),
        OptionSpec("platform_serial", "Platform certificate serial / public key id"),
        OptionSpec("platform_public_key", "Platform public key, PEM"),
        OptionSpec("apiv3_key", "APIv3 key (32 characters)", secret=True),
    )
    default_status_map = {
        "TRANSACTION.SUCCESS": Milestone.PAID,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        timestamp = common.header(request, "Wechatpay-Timestamp")
        nonce = common.header(request, "Wechatpay-Nonce")
        signature = common.header(request, "Wechatpay-Signature")
        serial = common.header(request, "Wechatpay-Serial")
        if not (timestamp and nonce and signature and serial):
            raise fail("missing Wechatpay-Timestamp/Nonce/Signature/Serial header")
        if not common.same(account.options.get("platform_serial", ""), serial):
            raise fail("Wechatpay-Serial names an unknown platform key")
        try:
            signed_at = common.unix_seconds_header(timestamp, "Wechatpay-Timestamp")
            common.check_window(request, signed_at)
        except VerificationError as error:
            raise fail(error.reason) from None
        key = load_public_key(common.option(account, "platform_public_key"))
        raw_signature = common.b64decode_strict(signature, "Wechatpay-Signature")
        try:
            key.verify(
                raw_signature,
                signed_message(timestamp, nonce, request.body),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise fail("Wechatpay-Signature does not match") from None
        envelope = common.peek_json(request.body)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise fail("body is not a notification envelope with a resource")
        plain = self._decrypt(account, envelope["resource"])
        notice_id = envelope.get("id")
        event_type = envelope.get("event_type")
        if not isinstance(notice_id, str) or not isinstance(event_type, str):
            raise fail("envelope id / event_type missing")
        head = {
            "id": notice_id,
            "event_type": event_type,
            "create_time": envelope.get("create_time"),
        }
        payload = (
            json.dumps(head, ensure_ascii=False)[:-1].encode() + b',"resource":' + plain + b"}"
        )
        return Verified(
            delivery_id=notice_id[:128], event_type=event_type, payload=payload, response=SUCCESS
        )

    def _decrypt(self, account: AccountConfig, resource: dict[str, Any]) -> bytes:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise fail(f"unsupported resource algorithm {resource.get('algorithm')!r}")
        ciphertext, nonce = resource.get("ciphertext"), resource.get("nonce")
        associated = resource.get("associated_data") or ""
        if not (
            isinstance(ciphertext, str) and isinstance(nonce, str) and isinstance(associated, str)
        ):
            raise fail("resource ciphertext / nonce / associated_data missing")
        key = common.secret(account, "apiv3_key").encode()
        if len(key) not in (16, 24, 32):
            raise fail("the account's apiv3_key must be 32 characters")
        try:
            return AESGCM(key).decrypt(
                nonce.encode(),
                common.b64decode_strict(ciphertext, "resource.ciphertext"),
                associated.encode(),
            )
        except (InvalidTag, ValueError):
            raise fail("resource does not decrypt with the APIv3 key") from None

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        envelope = common.mapping(payload, "payload")
        event_type = common.text(envelope.get("event_type"), "event_type", max_length=64)
        resource = common.mapping(envelope.get("resource"), "resource")
        external_id = common.text(
            resource.get("out_trade_no"), "resource.out_trade_no", max_length=128
        )
        when = common.iso_time(
            resource.get("success_time") or envelope.get("create_time"),
            "resource.success_time",
            naive_tz=common.CHINA_TZ,
        )
        amount = common.mapping(resource.get("amount") or {}, "resource.amount")
        if event_type.startswith("REFUND."):
            return [
                NormalizedOrder(
                    channel=account.code,
                    external_id=external_id,
                    facts=(StatusFactIn(account.system, event_type, None, when),),
                )
            ]
        return [
            NormalizedOrder(
                channel=account.code,
                external_id=external_id,
                currency=common.optional_text(
                    amount.get("currency"), "resource.amount.currency", max_length=3
                ),
                total_amount=common.optional_fen(amount.get("total"), "resource.amount.total"),
                paid_at=when if resource.get("trade_state") == "SUCCESS" else None,
                facts=(StatusFactIn(account.system, event_type, None, when),),
            )
        ]
