"""Each notifier's wire format and signature against its sandbox receiver (good and bad
secret), the delivery log, transient retries, and ``notify_test``'s exit codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from urllib.parse import quote_plus

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from channels_app.crypto import secrets_decrypt
from channels_app.sandbox_api.server import SandboxAPI
from health.alerts.models import Delivery, Notifier
from health.alerts.notifiers.base import Message
from health.alerts.notifiers.robots import dingtalk_send, dingtalk_sign, wecom_send
from health.alerts.notifiers.voice import TencentVms, tc3_authorization
from health.alerts.notifiers.webhook import webhook_send, webhook_signature
from health.alerts.services.deliveries import deliveries_release, delivery_send
from health.alerts.services.notifiers import notifier_config, notifier_create, url_mask
from health.alerts.services.testing import notifier_test
from health.alerts.tests.conftest import (
    DINGTALK_SECRET,
    SMTP_PASSWORD,
    VMS_SECRET_ID,
    VMS_SECRET_KEY,
    WEBHOOK_SECRET,
    WECOM_KEY,
    SmtpInbox,
    make_notifier,
)

pytestmark = pytest.mark.django_db

MESSAGE = Message(
    kind="opened",
    title="Alert: tracking",
    text="Value 51",
    recipients=("13800138000",),
    ack_url="https://hub.example.com/alerts/ack/t/",
    reference="incident-7-opened",
)


def test_wecom_markdown_wire_format_and_answer(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "wecom"))
    result = wecom_send(config, MESSAGE)
    assert (result.ok, result.transport_status, result.provider_result) == (
        True,
        "HTTP 200",
        "errcode=0 errmsg=ok",
    )
    assert sandbox.alerts.received["wecom"] == [
        {
            "key": WECOM_KEY,
            "body": {
                "msgtype": "markdown",
                "markdown": {
                    "content": (
                        '# <font color="warning">Alert: tracking</font>\nValue 51\n\n'
                        "Acknowledge / 确认: https://hub.example.com/alerts/ack/t/"
                    )
                },
            },
        }
    ]


def test_wecom_text_mentions_the_phone_numbers(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "wecom", options={"msgtype": "text"}))
    assert wecom_send(config, MESSAGE).ok
    body = sandbox.alerts.received["wecom"][0]["body"]
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert "mentioned_list" not in body["text"]


def test_wecom_unknown_key_is_refused_inside_http_200(sandbox: SandboxAPI) -> None:
    url = f"{sandbox.url}/cgi-bin/webhook/send?key=wrong-key"
    config = notifier_config(make_notifier(sandbox, "wecom", url=url))
    result = wecom_send(config, MESSAGE)
    assert (result.ok, result.transient, result.transport_status) == (False, False, "HTTP 200")
    assert result.provider_result == "errcode=93000 errmsg=invalid webhook url, hint: [sandbox]"
    assert sandbox.alerts.received["wecom"] == []


def test_dingtalk_sign_matches_the_upstream_test_vector() -> None:
    # francistm/dingtalk-sdk spec/dingtalk_sdk/robot_spec.rb: secret, timestamp -> url-encoded sign
    assert (
        dingtalk_sign("this is secret", 1_603_868_410_000)
        == "3E1RZgQrn1ZLgQGU4C4n4SMei%2BObeZVym5BbqrwOJPs%3D"
    )
    expected = base64.b64encode(
        hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    ).decode()
    assert dingtalk_sign("SECabc", 1700000000000) == quote_plus(expected)


def test_dingtalk_signed_url_accepted(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "dingtalk"))
    result = dingtalk_send(config, MESSAGE)
    assert (result.ok, result.provider_result) == (True, "errcode=0 errmsg=ok")
    [entry] = sandbox.alerts.received["dingtalk"]
    assert entry["body"] == {
        "msgtype": "markdown",
        "markdown": {
            "title": "Alert: tracking",
            "text": (
                "### Alert: tracking\n\nValue 51\n\nAcknowledge / 确认: "
                "https://hub.example.com/alerts/ack/t/\n\n@13800138000"
            ),
        },
        "at": {"atMobiles": ["13800138000"], "isAtAll": False},
    }


def test_dingtalk_bad_secret_gets_310000_inside_http_200(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "dingtalk", secret="SECwrong"))
    result = dingtalk_send(config, MESSAGE)
    assert (result.ok, result.transient, result.transport_status) == (False, False, "HTTP 200")
    assert result.provider_result == "errcode=310000 errmsg=sign not match, more: [sandbox]"
    assert sandbox.alerts.received["dingtalk"] == []


def test_dingtalk_stale_timestamp_is_refused(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "dingtalk"))
    stale = int(time.time() * 1000) - 2 * 3600_000
    result = dingtalk_send(config, MESSAGE, now_ms=stale)
    assert result.provider_result == "errcode=310000 errmsg=invalid timestamp"


def test_webhook_signed_over_timestamp_and_raw_body(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "webhook"))
    now = int(time.time())
    result = webhook_send(config, MESSAGE, now=now)
    assert (result.ok, result.transport_status) == (True, "HTTP 200")
    [entry] = sandbox.alerts.received["webhook"]
    assert entry["headers"]["x-orderhub-timestamp"] == str(now)
    assert entry["headers"]["x-orderhub-reference"] == "incident-7-opened"
    assert entry["body"]["event"] == "incident.opened"
    body = json.dumps(entry["body"], ensure_ascii=False, sort_keys=True).encode()
    assert entry["headers"]["x-orderhub-signature"] == webhook_signature(WEBHOOK_SECRET, now, body)
    # The same message again is accepted as a duplicate and not kept twice.
    assert (
        webhook_send(config, MESSAGE, now=now).provider_result == '{"ok": true, "duplicate": true}'
    )
    assert len(sandbox.alerts.received["webhook"]) == 1


def test_webhook_bad_secret_and_replayed_timestamp_are_refused(sandbox: SandboxAPI) -> None:
    bad = notifier_config(make_notifier(sandbox, "webhook", code="bad", secret="nope"))
    result = webhook_send(bad, MESSAGE)
    assert (result.ok, result.transport_status) == (False, "HTTP 401")
    assert result.provider_result == '{"error": "bad signature"}'
    good = notifier_config(make_notifier(sandbox, "webhook"))
    replay = webhook_send(good, MESSAGE, now=int(time.time()) - 600)
    assert (replay.ok, replay.provider_result) == (
        False,
        '{"error": "timestamp outside the replay window"}',
    )
    assert sandbox.alerts.received["webhook"] == []


def test_tc3_signature_matches_the_documented_steps() -> None:
    body = b'{"a":1}'
    header = tc3_authorization(
        secret_id="AKID",
        secret_key="KEY",
        host="vms.tencentcloudapi.com",
        body=body,
        timestamp=1551113065,
        service="vms",
    )
    canonical = (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:vms.tencentcloudapi.com\n"
        "\ncontent-type;host\n" + hashlib.sha256(body).hexdigest()
    )
    to_sign = (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/vms/tc3_request\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )
    key = hmac.new(b"TC3KEY", b"2019-02-25", hashlib.sha256).digest()
    key = hmac.new(key, b"vms", hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/vms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def test_voice_call_send_tts_voice_accepted(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "voice"))
    result = TencentVms().call(config, "13800138000", MESSAGE)
    assert (result.ok, result.transport_status, result.provider_result) == (
        True,
        "HTTP 200",
        "CallId=sandbox-call-1",
    )
    [entry] = sandbox.alerts.received["voice"]
    assert entry["body"] == {
        "TemplateId": "1234567",
        "TemplateParamSet": ["Alert: tracking"],
        "CalledNumber": "+8613800138000",
        "VoiceSdkAppid": "1400000001",
        "PlayTimes": 2,
        "SessionContext": "incident-7-opened",
    }
    assert entry["headers"]["x-tc-action"] == "SendTtsVoice"
    assert entry["headers"]["x-tc-version"] == "2020-09-02"
    assert entry["headers"]["authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={VMS_SECRET_ID}/"
    )


def test_voice_bad_secret_key_gets_signature_failure(sandbox: SandboxAPI) -> None:
    config = notifier_config(make_notifier(sandbox, "voice", secret="wrong-key"))
    result = TencentVms().call(config, "13800138000", MESSAGE)
    assert (result.ok, result.transient, result.transport_status) == (False, False, "HTTP 200")
    assert result.provider_result.startswith(
        "AuthFailure.SignatureFailure: The provided credentials could not be validated."
    )
    assert sandbox.alerts.received["voice"] == []


def _email_notifier(
    smtp: SmtpInbox, *, password: str = SMTP_PASSWORD, code: str = "mail-ops"
) -> Notifier:
    return notifier_create(
        kind="email",
        code=code,
        url=f"smtp://alerts@{smtp.host}:{smtp.port}",
        secret=password,
        options={"from": "orderhub@example.com", "to": "ops@example.com"},
    )


def test_email_goes_over_smtp_with_the_servers_answer(smtp_server: SmtpInbox) -> None:
    delivery = notifier_test(
        notifier_id=_email_notifier(smtp_server).pk, recipients=["manager@example.com"]
    )
    assert (delivery.status, delivery.transport_status) == (
        "sent",
        "SMTP 250 2.0.0 Ok: queued as SANDBOX1",
    )
    [envelope] = smtp_server.messages
    assert envelope.mail_from == "orderhub@example.com"
    assert envelope.rcpt_tos == ["manager@example.com", "ops@example.com"]
    parsed = message_from_bytes(envelope.original_content or b"")
    assert str(make_header(decode_header(parsed["Subject"]))) == "OrderHub 测试消息"


def test_email_wrong_password_is_refused_with_535(smtp_server: SmtpInbox) -> None:
    delivery = notifier_test(notifier_id=_email_notifier(smtp_server, password="wrong").pk)
    assert delivery.status == "failed"
    assert delivery.transport_status.startswith("SMTP 535 ")
    assert smtp_server.messages == []


def test_secrets_are_encrypted_and_masked(sandbox: SandboxAPI) -> None:
    notifier = make_notifier(sandbox, "dingtalk")
    assert notifier.url_masked == f"{sandbox.url}/robot/send?access_token=****dbox"
    assert DINGTALK_SECRET not in notifier.secrets_encrypted
    assert secrets_decrypt(notifier.secrets_encrypted)["secret"] == DINGTALK_SECRET
    assert url_mask("smtp://u:pw@host:25") == "smtp://u:****@host:25"


def test_delivery_log_keeps_no_secret(sandbox: SandboxAPI) -> None:
    delivery = notifier_test(notifier_id=make_notifier(sandbox, "wecom").pk)
    stored = json.dumps(
        [
            delivery.payload_summary,
            delivery.transport_status,
            delivery.provider_result,
            delivery.error,
        ]
    )
    assert delivery.status == "sent"
    assert WECOM_KEY not in stored
    assert delivery.payload_summary["msgtype"] == "markdown"


def test_transient_failure_is_retried_with_backoff_then_sent(sandbox: SandboxAPI) -> None:
    sandbox.faults.server_error["wecom.robot_send"] = 1
    notifier = make_notifier(sandbox, "wecom")
    now = timezone.now()
    delivery = Delivery.objects.create(
        notifier=notifier, kind="test", title="t", text="x", not_before=now, created_at=now
    )
    assert delivery_send(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.transport_status) == (1, "HTTP 503")
    assert timedelta(seconds=30) <= delivery.not_before - now <= timedelta(seconds=40)
    assert deliveries_release(now=now) == []  # not due yet
    assert deliveries_release(now=delivery.not_before) == [delivery.pk]
    assert delivery_send(delivery_id=delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status, delivery.provider_result) == (
        2,
        "sent",
        "errcode=0 errmsg=ok",
    )
    assert len(sandbox.alerts.received["wecom"]) == 1


def test_retries_are_bounded(sandbox: SandboxAPI, settings) -> None:
    settings.ALERTS_DELIVERY_MAX_ATTEMPTS = 2
    sandbox.faults.server_error["wecom.robot_send"] = 5
    notifier = make_notifier(sandbox, "wecom")
    now = timezone.now()
    delivery = Delivery.objects.create(
        notifier=notifier, kind="test", title="t", text="x", not_before=now, created_at=now
    )
    assert delivery_send(delivery_id=delivery.pk) == "retry"
    deliveries_release(now=now + timedelta(hours=1))
    assert delivery_send(delivery_id=delivery.pk) == "failed"
    assert delivery_send(delivery_id=delivery.pk) == "skipped"
    assert sandbox.calls["wecom.robot_send"] == 2


def test_notify_test_prints_the_answer_and_exits_zero(sandbox: SandboxAPI, capsys) -> None:
    make_notifier(sandbox, "dingtalk")
    call_command("notify_test", "dingtalk-ops")
    out = capsys.readouterr().out
    assert "transport: HTTP 200\nprovider result: errcode=0 errmsg=ok\noutcome: sent\n" in out


def test_notify_test_exits_non_zero_on_an_error_inside_http_200(
    sandbox: SandboxAPI, capsys
) -> None:
    make_notifier(sandbox, "dingtalk", secret="SECwrong")
    with pytest.raises(CommandError) as raised:
        call_command("notify_test", "dingtalk-ops")
    assert raised.value.returncode == 1
    assert "errcode=310000" in str(raised.value)
    out = capsys.readouterr().out
    assert "transport: HTTP 200\nprovider result: errcode=310000 errmsg=sign not match" in out


def test_notify_test_exits_non_zero_when_unreachable(capsys) -> None:
    notifier_create(kind="webhook", code="down", url="http://127.0.0.1:9/x", secret="s")
    with pytest.raises(CommandError) as raised:
        call_command("notify_test", "down")
    assert raised.value.returncode == 1
    assert "transport: connection error" in capsys.readouterr().out


def test_notifier_add_creates_an_encrypted_notifier(sandbox: SandboxAPI, capsys) -> None:
    call_command(
        "notifier_add",
        "--kind",
        "voice",
        "--code",
        "call-wh",
        "--url",
        f"{sandbox.url}/",
        "--secret",
        VMS_SECRET_KEY,
        "--option",
        f"secret_id={VMS_SECRET_ID}",
        "--option",
        "sdk_app_id=1400000001",
        "--option",
        "template_id=1234567",
    )
    assert "notifier call-wh (voice, enabled)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="missing option"):
        call_command(
            "notifier_add", "--kind", "voice", "--code", "x", "--url", "https://a/", "--secret", "s"
        )
    with pytest.raises(CommandError, match="a secret is required"):
        call_command("notifier_add", "--kind", "webhook", "--code", "y", "--url", "https://a/")
