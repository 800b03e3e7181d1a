"""Voice calls behind a small provider interface; one real provider: Tencent Cloud VMS.

``VoiceProvider.call(config, number, message) -> DeliveryResult`` places one call. Tencent
Cloud VMS ``SendTtsVoice`` (API 3.0, version 2020-09-02) reads a text-to-speech template to
one number: POST JSON to ``https://vms.tencentcloudapi.com`` with the ``X-TC-*`` headers and an
``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/vms/tc3_request,
SignedHeaders=content-type;host, Signature=<hex>`` header. Errors come inside HTTP 200 as
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``.

Options: ``secret_id``, ``sdk_app_id`` (VoiceSdkAppid), ``template_id`` (an approved TTS
template with one parameter, the alert title), ``region`` (default ap-guangzhou),
``play_times`` (default 2); the secret is the SecretKey; ``url`` the endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from health.alerts.notifiers.base import (
    RESULT_LIMIT,
    DeliveryResult,
    Message,
    NotifierConfig,
    NotifierKindSpec,
    OptionSpec,
    notifier_kinds,
    phones,
    post_json,
)
from orderhub.registry import Registry

VMS_SERVICE = "vms"
VMS_VERSION = "2020-09-02"
CONTENT_TYPE = "application/json; charset=utf-8"
# Tencent Cloud errors worth another attempt later (rate limits, internal errors).
VMS_TRANSIENT = frozenset(
    {"RequestLimitExceeded", "InternalError", "FailedOperation.FrequencyLimit"}
)
# A TTS template parameter is short; the title is cut to this many characters.
TEMPLATE_PARAM_LIMIT = 20


class VoiceProvider(Protocol):
    def call(self, config: NotifierConfig, number: str, message: Message) -> DeliveryResult: ...


voice_providers: Registry[VoiceProvider] = Registry("voice providers")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *, secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int, service: str
) -> str:
    """The TC3-HMAC-SHA256 ``Authorization`` header of a POST JSON request to ``host``."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host.lower()}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def vms_result(status: int, data: bytes) -> DeliveryResult:
    text = data.decode(errors="replace")[:RESULT_LIMIT]
    try:
        response = json.loads(data)["Response"]
    except (ValueError, KeyError, TypeError):
        return DeliveryResult(False, f"HTTP {status}", text, error="answer is not a VMS Response")
    error = response.get("Error")
    if error:
        code = str(error.get("Code", ""))
        result = f"{code}: {error.get('Message', '')} (RequestId {response.get('RequestId', '')})"
        return DeliveryResult(
            False,
            f"HTTP {status}",
            result[:RESULT_LIMIT],
            transient=code in VMS_TRANSIENT,
            error=result[:300],
        )
    call_id = (response.get("SendStatus") or {}).get("CallId", "")
    return DeliveryResult(True, f"HTTP {status}", f"CallId={call_id}")


class TencentVms:
    def __init__(self, *, now: int | None = None) -> None:
        self.now = now

    def call(self, config: NotifierConfig, number: str, message: Message) -> DeliveryResult:
        options = config.options
        payload = {
            "TemplateId": options.get("template_id", ""),
            "TemplateParamSet": [message.title[:TEMPLATE_PARAM_LIMIT]],
            "CalledNumber": number if number.startswith("+") else f"+86{number}",
            "VoiceSdkAppid": options.get("sdk_app_id", ""),
            "PlayTimes": int(options.get("play_times", "2")),
            "SessionContext": message.reference,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = self.now if self.now is not None else int(time.time())
        host = urlsplit(config.url).netloc
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendTtsVoice",
            "X-TC-Version": VMS_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": options.get("region", "ap-guangzhou"),
            "Authorization": tc3_authorization(
                secret_id=options.get("secret_id", ""),
                secret_key=config.secret,
                host=host,
                body=body,
                timestamp=timestamp,
                service=VMS_SERVICE,
            ),
        }
        summary = {
            "action": "SendTtsVoice",
            "called_number": payload["CalledNumber"],
            "template_id": payload["TemplateId"],
            "template_params": payload["TemplateParamSet"],
        }
        return post_json(config.url, body, headers=headers, summary=summary, interpret=vms_result)


voice_providers.add("tencent_vms", TencentVms())


def voice_send(config: NotifierConfig, message: Message) -> DeliveryResult:
    """One call to the (single) phone number of the message."""
    numbers = phones(message.recipients) or phones(
        tuple(n.strip() for n in config.options.get("numbers", "").split(",") if n.strip())
    )
    if not numbers:
        return DeliveryResult(False, "not sent", error="no phone number to call")
    provider = voice_providers.get(config.options.get("provider", "tencent_vms"))
    return provider.call(config, numbers[0], message)


notifier_kinds.add(
    "voice",
    NotifierKindSpec(
        send=voice_send,
        options=(
            OptionSpec("secret_id", required=True, help="Tencent Cloud SecretId"),
            OptionSpec("sdk_app_id", required=True, help="VoiceSdkAppid"),
            OptionSpec("template_id", required=True, help="approved TTS template id"),
            OptionSpec("region", help="default ap-guangzhou"),
            OptionSpec("play_times", help="default 2"),
            OptionSpec("numbers", help="phone numbers called when a rule names none"),
            OptionSpec("provider", help="voice provider (tencent_vms)"),
        ),
        secret_required=True,
        key_help="Tencent Cloud SecretKey",
    ),
)
