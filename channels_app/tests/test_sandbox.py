"""The sandbox speaks each platform's format: its requests verify and normalize as planned."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels_app.adapters.base import AccountConfig, InboundRequest, VerificationError, adapters
from channels_app.parsing import PayloadError, payload_parse
from channels_app.sandbox import encoders
from channels_app.sandbox.generator import PUSH_KINDS, generate_order
from orderhub.domain import NormalizedOrder

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = (
    PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ACCOUNTS = {
    "shopify": AccountConfig("s-shop", "shopify", {}, {"webhook_secret": "a" * 32}),
    "woocommerce": AccountConfig("s-woo", "woocommerce", {}, {"webhook_secret": "b" * 32}),
    "douyin": AccountConfig("s-dy", "douyin", {"app_key": "77"}, {"app_secret": "c" * 36}),
    "youzan": AccountConfig("s-yz", "youzan", {"client_id": "yz1"}, {"client_secret": "d" * 32}),
    "wechat_pay": AccountConfig(
        "s-wx",
        "wechat_pay",
        {"mchid": "1", "platform_serial": "SER", "platform_public_key": PUBLIC},
        {"apiv3_key": "e" * 32},
    ),
    "dingtalk": AccountConfig(
        "s-dt", "dingtalk", {}, {"token": "tk", "aes_key": "f" * 43, "owner_key": "dingX"}
    ),
    "webform": AccountConfig("s-web", "webform", {}, {"hmac_secret": "g" * 40}),
}


def inbound(request: encoders.Request) -> InboundRequest:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return InboundRequest(request.body, headers, request.query, NOW)


def test_generator_is_deterministic_for_a_seed() -> None:
    first = [generate_order("webform", n, random.Random(3), NOW) for n in range(5)]
    second = [generate_order("webform", n, random.Random(3), NOW) for n in range(5)]
    assert first == second
    assert first != [generate_order("webform", n, random.Random(4), NOW) for n in range(5)]


@pytest.mark.parametrize("kind", PUSH_KINDS)
def test_every_step_verifies_and_normalizes_to_the_planned_status(kind: str) -> None:
    account = ACCOUNTS[kind]
    adapter = adapters.get(kind)()
    rng = random.Random(11)
    for number in range(30):
        order = generate_order(kind, number, rng, NOW)
        raw_statuses = []
        for step in range(len(order.steps)):
            payload = encoders.PAYLOADS[kind](order, step)
            request = encoders.wrap(account, payload, sent_at=NOW, private_key=PRIVATE)
            verified = adapter.verify(account, inbound(request))
            assert verified.process is True
            [normalized] = adapter.normalize(account, payload_parse(verified.payload))
            assert isinstance(normalized, NormalizedOrder)
            assert (normalized.channel, normalized.external_id) == (account.code, order.external_id)
            raw_statuses += [fact.raw_status for fact in normalized.facts]
            if normalized.lines is not None:
                assert sum(line.amount for line in normalized.lines) == order.goods
        mapped = [adapter.default_status_map.get(raw) for raw in raw_statuses]
        assert order.final_milestone in mapped or (
            kind == "dingtalk" and order.final_milestone == "placed"
        )


@pytest.mark.parametrize("kind", PUSH_KINDS)
def test_bad_signatures_are_refused(kind: str) -> None:
    account = ACCOUNTS[kind]
    order = generate_order(kind, 1, random.Random(5), NOW)
    request = encoders.wrap(
        account, encoders.PAYLOADS[kind](order, 0), sent_at=NOW, private_key=PRIVATE
    )
    for variant in (0, 1):
        with pytest.raises(VerificationError):
            adapters.get(kind)().verify(
                account, inbound(encoders.bad_signature(kind, request, variant))
            )


@pytest.mark.parametrize("variant", encoders.HOSTILE_KINDS)
@pytest.mark.parametrize("kind", PUSH_KINDS)
def test_hostile_bodies_pass_verification_and_fail_processing(kind: str, variant: str) -> None:
    account = ACCOUNTS[kind]
    adapter = adapters.get(kind)()
    order = generate_order(kind, 2, random.Random(6), NOW)
    sample = encoders.PAYLOADS[kind](order, 0)
    body = encoders.hostile_payload(kind, variant, "marker-1", sample.data)
    request = encoders.wrap(
        account,
        encoders.Payload(body, "marker-1", sample.event_type),
        sent_at=NOW,
        private_key=PRIVATE,
    )
    verified = adapter.verify(account, inbound(request))
    assert verified.process is True
    with pytest.raises((PayloadError, *_normalize_errors())):
        adapter.normalize(account, payload_parse(verified.payload))


def _normalize_errors() -> tuple[type[BaseException], ...]:
    from channels_app.services.processing import ADAPTER_DATA_ERRORS

    return ADAPTER_DATA_ERRORS
