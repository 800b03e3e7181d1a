"""WeChat Pay APIv3: RSA-signed, AES-256-GCM-encrypted notifications → exact NormalizedOrder."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError
from channels_app.adapters.wechat_pay.mapping import WechatPayAdapter
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "wechat_pay"
APIV3_KEY = "0123456789abcdef0123456789abcdef"
PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    PRIVATE_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ACCOUNT = AccountConfig(
    code="mp-pay",
    kind="wechat_pay",
    options={
        "mchid": "1230000109",
        "platform_serial": "PUB_KEY_ID_01",
        "platform_public_key": PUBLIC_PEM,
    },
    secrets={"apiv3_key": APIV3_KEY},
)
NOW = datetime(2024, 5, 1, 4, 0, 10, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))
RESOURCE = (FIXTURES / "transaction_resource.json").read_bytes()


def envelope(resource_plain: bytes, key: str = APIV3_KEY) -> bytes:
    nonce, associated = "fdasflkja484", "transaction"
    ciphertext = AESGCM(key.encode()).encrypt(nonce.encode(), resource_plain, associated.encode())
    return json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2024-05-01T12:00:06+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
    ).encode()


def request(body: bytes, *, stamp: str = STAMP, signature: str | None = None) -> InboundRequest:
    nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    message = stamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    if signature is None:
        raw = PRIVATE_KEY.sign(message, padding.PKCS1v15(), hashes.SHA256())
        signature = base64.b64encode(raw).decode()
    headers = {
        "wechatpay-timestamp": stamp,
        "wechatpay-nonce": nonce,
        "wechatpay-signature": signature,
        "wechatpay-serial": "PUB_KEY_ID_01",
        "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    }
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def test_signed_notification_is_verified_and_decrypted() -> None:
    verified = WechatPayAdapter().verify(ACCOUNT, request(envelope(RESOURCE)))
    assert verified.delivery_id == "EV-2018022511223320873"
    assert verified.event_type == "TRANSACTION.SUCCESS"
    assert verified.response.status == 200
    assert verified.response.body == b'{"code":"SUCCESS"}'
    payload = payload_parse(verified.payload)
    assert payload["event_type"] == "TRANSACTION.SUCCESS"
    assert payload["resource"] == payload_parse(RESOURCE)


def test_one_byte_changed_in_body_is_refused() -> None:
    good = request(envelope(RESOURCE))
    tampered = InboundRequest(
        body=good.body.replace(b"EV-2018", b"EV-2019"),
        headers=good.headers,
        query={},
        received_at=NOW,
    )
    with pytest.raises(VerificationError, match="Wechatpay-Signature does not match") as raised:
        WechatPayAdapter().verify(ACCOUNT, tampered)
    assert raised.value.response.status == 401
    assert json.loads(raised.value.response.body)["code"] == "FAIL"


def test_one_byte_changed_in_signature_is_refused() -> None:
    good = request(envelope(RESOURCE))
    signature = good.headers["wechatpay-signature"]
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 1
    with pytest.raises(VerificationError, match="does not match"):
        WechatPayAdapter().verify(
            ACCOUNT, request(good.body, signature=base64.b64encode(bytes(raw)).decode())
        )


def test_stale_timestamp_is_refused() -> None:
    stamp = str(int((NOW - timedelta(seconds=301)).timestamp()))
    with pytest.raises(VerificationError, match="window"):
        WechatPayAdapter().verify(ACCOUNT, request(envelope(RESOURCE), stamp=stamp))


def test_unknown_serial_is_refused() -> None:
    other = AccountConfig(
        code="mp-pay",
        kind="wechat_pay",
        options={**ACCOUNT.options, "platform_serial": "OTHER"},
        secrets=ACCOUNT.secrets,
    )
    with pytest.raises(VerificationError, match="unknown platform key"):
        WechatPayAdapter().verify(other, request(envelope(RESOURCE)))


def test_resource_encrypted_with_another_key_is_refused() -> None:
    body = envelope(RESOURCE, key="ffffffffffffffffffffffffffffffff")
    with pytest.raises(VerificationError, match="does not decrypt"):
        WechatPayAdapter().verify(ACCOUNT, request(body))


def test_transaction_normalizes_exactly() -> None:
    verified = WechatPayAdapter().verify(ACCOUNT, request(envelope(RESOURCE)))
    paid = datetime(2024, 5, 1, 12, 0, 5, tzinfo=common.CHINA_TZ)
    assert WechatPayAdapter().normalize(ACCOUNT, payload_parse(verified.payload)) == [
        NormalizedOrder(
            channel="mp-pay",
            external_id="MP20240501000123",
            currency="CNY",
            total_amount=Decimal("129.90"),
            paid_at=paid,
            facts=(StatusFactIn("wechat_pay:mp-pay", "TRANSACTION.SUCCESS", None, paid),),
        )
    ]
