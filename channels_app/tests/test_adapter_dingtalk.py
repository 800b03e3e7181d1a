"""DingTalk approval callbacks (encrypted HTTP mode): signature, decryption, encrypted reply."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels_app.adapters import common
from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError
from channels_app.adapters.dingtalk.mapping import DingTalkAdapter, decrypt, encrypt, signature
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedOrder, StatusFactIn

FIXTURES = Path(__file__).parent / "fixtures" / "dingtalk"
AES_KEY = "o1w0aum42yaptlz8alnhwikjd3ik8ms2ntj8inw2ak1"  # 43 characters
TOKEN = "mryue"
OWNER = "ding9f50b15bccd16741"
ACCOUNT = AccountConfig(
    code="dt", kind="dingtalk", secrets={"token": TOKEN, "aes_key": AES_KEY, "owner_key": OWNER}
)
NOW = datetime(2024, 5, 1, 5, 0, tzinfo=UTC)
KEY = __import__("base64").b64decode(AES_KEY + "=")


def request(
    message: bytes, *, owner: str = OWNER, stamp_at: datetime = NOW, tamper: str = ""
) -> InboundRequest:
    encrypted = encrypt(KEY, message, owner)
    stamp = str(int(stamp_at.timestamp() * 1000))
    nonce = "nEXhMP4r"
    sig = signature(TOKEN, stamp, nonce, encrypted)
    if tamper == "signature":
        sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    if tamper == "body":
        # One character of the ciphertext itself (replacing the first such byte of the whole
        # body could hit the "encrypt" key, which the random ciphertext sometimes made happen).
        encrypted = encrypted[:5] + ("A" if encrypted[5] != "A" else "B") + encrypted[6:]
    body = json.dumps({"encrypt": encrypted}).encode()
    query = {"msg_signature": sig, "timeStamp": stamp, "nonce": nonce}
    return InboundRequest(body=body, headers={}, query=query, received_at=NOW)


def test_encryption_round_trips_with_owner_key() -> None:
    encrypted = encrypt(KEY, b'{"EventType":"check_url"}', OWNER, random=b"\x00" * 16)
    assert decrypt(KEY, encrypted) == (b'{"EventType":"check_url"}', OWNER)


def test_callback_is_verified_decrypted_and_answered_encrypted() -> None:
    message = (FIXTURES / "instance_finish_refuse.json").read_bytes()
    verified = DingTalkAdapter().verify(ACCOUNT, request(message))
    assert verified.payload == message
    assert verified.event_type == "bpms_instance_change"
    assert verified.process is True
    reply = json.loads(verified.response.body)
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert reply["timeStamp"] == str(int(NOW.timestamp() * 1000))
    assert reply["msg_signature"] == signature(
        TOKEN, reply["timeStamp"], reply["nonce"], reply["encrypt"]
    )
    assert decrypt(KEY, reply["encrypt"]) == (b"success", OWNER)


def test_check_url_is_answered_and_not_processed() -> None:
    verified = DingTalkAdapter().verify(ACCOUNT, request(b'{"EventType":"check_url"}'))
    assert verified.process is False
    assert decrypt(KEY, json.loads(verified.response.body)["encrypt"])[0] == b"success"


@pytest.mark.parametrize("tamper", ["body", "signature"])
def test_one_byte_changed_is_refused(tamper: str) -> None:
    message = (FIXTURES / "instance_finish_refuse.json").read_bytes()
    with pytest.raises(VerificationError, match="msg_signature does not match"):
        DingTalkAdapter().verify(ACCOUNT, request(message, tamper=tamper))


def test_stale_timestamp_is_refused() -> None:
    message = (FIXTURES / "instance_finish_refuse.json").read_bytes()
    with pytest.raises(VerificationError, match="window"):
        DingTalkAdapter().verify(ACCOUNT, request(message, stamp_at=NOW - timedelta(seconds=301)))


def test_callback_for_another_corp_is_refused() -> None:
    message = (FIXTURES / "instance_finish_refuse.json").read_bytes()
    with pytest.raises(VerificationError, match="another corpId"):
        DingTalkAdapter().verify(ACCOUNT, request(message, owner="dingOTHER"))


def test_instance_change_normalizes_exactly() -> None:
    payload = payload_parse((FIXTURES / "instance_finish_refuse.json").read_bytes())
    assert DingTalkAdapter().normalize(ACCOUNT, payload) == [
        NormalizedOrder(
            channel="dt",
            external_id="ad253df6-e175-4ba8-a2d6-0a7a1fc7e4a1",
            buyer_note="张三提交的销售订单审批",
            placed_at=datetime(2024, 5, 1, 12, 0, tzinfo=common.CHINA_TZ),
            facts=(
                StatusFactIn(
                    "dingtalk:dt",
                    "bpms_instance_change:finish:refuse",
                    None,
                    datetime(2024, 5, 1, 13, 0, tzinfo=common.CHINA_TZ),
                ),
            ),
        )
    ]
