"""Courier feeds (Kuaidi100, 17TRACK, AfterShip): signatures on the raw bytes with test
vectors, the answers each provider expects, and recorded pushes -> exact tracking events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from channels_app.adapters import common
from channels_app.adapters.aftership import AfterShipAdapter
from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError
from channels_app.adapters.kuaidi100 import Kuaidi100Adapter, kuaidi100_sign
from channels_app.adapters.kuaidi100.mapping import state_of
from channels_app.adapters.track17 import Track17Adapter, track17_sign
from channels_app.parsing import payload_parse
from orderhub.domain import NormalizedTracking, TrackingEventIn

FIXTURES = Path(__file__).parent / "fixtures" / "couriers"
CN = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
KD100 = AccountConfig(code="kd100", kind="kuaidi100", secrets={"salt": "salt-9f2c"})
AS = AccountConfig(code="as-main", kind="aftership", secrets={"webhook_secret": "as-secret"})
T17 = AccountConfig(code="t17", kind="track17", secrets={"security_key": "key-17"})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().strip()


def request(body: bytes, **headers: str) -> InboundRequest:
    return InboundRequest(body=body, headers=headers, query={}, received_at=NOW)


def kuaidi100_body(param: str, sign: str) -> bytes:
    return urlencode({"param": param, "sign": sign}).encode()


# --- Kuaidi100 ------------------------------------------------------------------------------


def test_kuaidi100_sign_is_upper_md5_of_param_and_salt() -> None:
    param = fixture("kuaidi100_param.json").decode()
    assert kuaidi100_sign(param, "salt-9f2c") == "A7CA3F42BBB314DCBA91C51D8B38F49C"
    assert kuaidi100_sign("{}", "") == "99914B932BD37A50B983C5E7C90AE93B"


def test_kuaidi100_signed_push_is_accepted_with_the_answer_kuaidi100_expects() -> None:
    param = fixture("kuaidi100_param.json").decode()
    verified = Kuaidi100Adapter().verify(
        KD100, request(kuaidi100_body(param, "A7CA3F42BBB314DCBA91C51D8B38F49C"))
    )
    assert verified.payload == param.encode()
    assert verified.event_type == "tracking.shutdown"
    assert verified.delivery_id == ""
    assert verified.response.status == 200
    assert verified.response.body.decode() == '{"result":true,"returnCode":"200","message":"成功"}'


@pytest.mark.parametrize("change", ["param", "sign", "salt"])
def test_kuaidi100_one_changed_byte_is_refused(change: str) -> None:
    param = fixture("kuaidi100_param.json").decode()
    sign = "A7CA3F42BBB314DCBA91C51D8B38F49C"
    account = KD100
    if change == "param":
        param = param.replace("JD0076810060555", "JD0076810060556")
    elif change == "sign":
        sign = sign[:-1] + "D"
    else:
        account = AccountConfig(code="kd100", kind="kuaidi100", secrets={"salt": "salt-9f2d"})
    with pytest.raises(VerificationError, match="sign does not match") as caught:
        Kuaidi100Adapter().verify(account, request(kuaidi100_body(param, sign)))
    assert caught.value.response.body.decode() == (
        '{"result":false,"returnCode":"500","message":"签名校验失败"}'
    )


def test_kuaidi100_push_normalizes_to_the_whole_trace() -> None:
    param = fixture("kuaidi100_param.json")
    [tracking] = Kuaidi100Adapter().normalize(KD100, payload_parse(param))
    system, carrier, number = "kuaidi100:kd100", "jd", "JD0076810060555"

    def scan(**fields: Any) -> TrackingEventIn:
        return TrackingEventIn(system=system, carrier=carrier, tracking_number=number, **fields)

    assert tracking == NormalizedTracking(
        system=system, carrier=carrier, tracking_number=number,
        monitor_state="shutdown",
        events=(
            scan(
                occurred_at=datetime(2026, 11, 28, 10, 34, 33, tzinfo=CN),
                stage="delivered", raw_state="3", raw_substate="304",
                description="您的快件已由快递驿站代收",
            ),
            scan(
                occurred_at=datetime(2026, 11, 28, 8, 27, 50, tzinfo=CN),
                stage="in_transit", raw_state="0", raw_substate="",
                description="您的快件正在派送中，请您准备签收",  # noqa: RUF001
            ),
            scan(
                occurred_at=datetime(2026, 11, 27, 22, 28, 50, tzinfo=CN),
                stage="in_transit", raw_state="0", raw_substate="1002",
                description="您的快件由【西安灞桥分拣中心】准备发往【西安兴善营业部】",
                location="陕西,西安市,灞桥区",
            ),
            scan(
                occurred_at=datetime(2026, 11, 27, 18, 5, 12, tzinfo=CN),
                stage="in_transit", raw_state="1", raw_substate="103",
                description="京东快递已收取快件", location="陕西,西安市,灞桥区",
            ),
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("code", "word", "expected"),
    [
        ("304", "", ("3", "304", "delivered")),
        ("101", "", ("1", "101", "info_received")),
        ("1003", "", ("0", "1003", "in_transit")),
        ("501", "", ("5", "501", "available_for_pickup")),
        ("14", "", ("14", "", "returned")),
        ("201", "", ("2", "201", "exception")),
        ("", "派件", ("5", "", "out_for_delivery")),
        ("", "退回", ("6", "", "returning")),
        ("9", "", ("9", "", "unknown")),
    ],
)
def test_kuaidi100_states_and_sub_states(
    code: str, word: str, expected: tuple[str, str, str]
) -> None:
    assert state_of(code, word) == expected


# --- AfterShip ------------------------------------------------------------------------------


def test_aftership_signature_matches_the_reference_check_value() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    assert common.hmac_sha256_b64("secret", body) == "3dLmiPGz5zwSVeJBcpROBNcLNuRt3Ed+t+Iq4wxT5BY="


def test_aftership_webhook_is_verified_and_normalized() -> None:
    body = fixture("aftership_webhook.json")
    verified = AfterShipAdapter().verify(
        AS,
        request(body, **{"aftership-hmac-sha256": "pReSJWx/bpWK5QLUhCSVl4aFl2I3QlYC+xYYlncRgwI="}),
    )
    assert (verified.delivery_id, verified.event_type, verified.response.status) == (
        "4a2f6f52-34d6-4f3b-9d39-0c0f0c2f6a11",
        "tracking_update",
        200,
    )
    [tracking] = AfterShipAdapter().normalize(AS, payload_parse(body))
    assert [
        (e.occurred_at, e.stage, e.raw_state, e.raw_substate, e.location) for e in tracking.events
    ] == [
        (datetime(2026, 11, 27, 18, 10, tzinfo=CN), "in_transit", "InTransit", "InTransit_002",
         "Xi'an, Xi'an, China"),
        (datetime(2026, 11, 28, 10, 40, tzinfo=CN), "delivered", "Delivered", "Delivered_001",
         "Xi'an, Xi'an, China"),
    ]  # fmt: skip
    assert (tracking.system, tracking.carrier, tracking.tracking_number) == (
        "aftership:as-main",
        "jd",
        "JD0076810060555",
    )


def test_aftership_changed_body_is_refused() -> None:
    body = fixture("aftership_webhook.json").replace(b"Delivered_001", b"Delivered_002")
    with pytest.raises(VerificationError, match="does not match"):
        AfterShipAdapter().verify(
            AS,
            request(
                body, **{"aftership-hmac-sha256": "pReSJWx/bpWK5QLUhCSVl4aFl2I3QlYC+xYYlncRgwI="}
            ),
        )


# --- 17TRACK --------------------------------------------------------------------------------


def test_track17_sign_vector() -> None:
    body = fixture("track17_webhook.json")
    assert track17_sign(body, "key-17") == (
        "2dec459ea6493e6cdd9a3888bc7c3f6ee363458e9daf516f97469b8a5142f094"
    )


def test_track17_webhook_is_verified_and_normalized() -> None:
    body = fixture("track17_webhook.json")
    sign = "2dec459ea6493e6cdd9a3888bc7c3f6ee363458e9daf516f97469b8a5142f094"
    verified = Track17Adapter().verify(T17, request(body, sign=sign))
    assert (verified.event_type, verified.response.body) == ("TRACKING_UPDATED", b'{"code":0}')
    [tracking] = Track17Adapter().normalize(T17, payload_parse(body))
    assert [(e.occurred_at, e.stage, e.raw_substate) for e in tracking.events] == [
        (datetime(2026, 11, 29, 9, 12, tzinfo=CN), "delivered", "Delivered_Other"),
        (datetime(2026, 11, 28, 20, 0, tzinfo=CN), "in_transit", "InTransit_Other"),
        (datetime(2026, 11, 28, 15, 30, tzinfo=CN), "in_transit", "InTransit_PickedUp"),
        (datetime(2026, 11, 28, 11, 0, tzinfo=CN), "info_received", "InfoReceived"),
    ]
    assert (tracking.carrier, tracking.tracking_number) == ("100012", "SF1234567890123")
    with pytest.raises(VerificationError, match="sign does not match"):
        Track17Adapter().verify(T17, request(body + b" ", sign=sign))
