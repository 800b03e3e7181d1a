"""Kuaidi100 (快递100) calls: the subscription (``/poll``) and the real-time query
(``/poll/query.do``), over the shared HTTP client.

Subscribe: form ``schema=json`` and ``param`` = JSON text ``{"company", "number", "from",
"to", "key", "parameters": {"callbackurl", "salt", "resultv2": "1"}}``; the answer
``{"result": true, "returnCode": "200", "message": "提交成功"}``, returnCode ``"501"`` for a
waybill already subscribed (done before), any other code a refusal with its message.

Query: form ``customer``, ``param`` = JSON text ``{"com", "num", "resultv2": "1"}`` and
``sign`` = upper(md5(param + key + customer)); the answer has the shape of a push's
``lastResult`` (``nu``, ``com``, ``state``, ``data[]``), or ``result: false`` with a
returnCode and message.

The key travels in the subscription's ``param``: the OutboundCall log gets it masked.

Account: secret ``key`` (both calls) and ``salt`` (sent with the subscription, signs the
pushes); options ``callback_url``, ``customer`` and ``base_url``. The subscription is the
kind's write-back writer (outbox entries written by ``channels_app.outbound.courier_writers``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels_app.adapters.base import AccountConfig
from channels_app.http import (
    CallRecorder,
    HttpClient,
    HttpResult,
    PlatformError,
    TerminalError,
)
from channels_app.outbound.base import WriteRequest, WriteResult, writers

DEFAULT_BASE_URL = "https://poll.kuaidi100.com"
SUBSCRIBED = "200"
ALREADY_SUBSCRIBED = "501"
# The subscription's answers for a key that is not (or no longer) valid.
KEY_REFUSED = frozenset({"600", "601"})
# The query's "no trace yet" answer.
QUERY_NO_RESULT = "500"

# Our carrier codes -> Kuaidi100 company codes; an unknown carrier is sent as it is.
COMPANY_CODES: dict[str, str] = {
    "jd": "jd",
    "sf": "shunfeng",
    "yto": "yuantong",
    "zto": "zhongtong",
    "sto": "shentong",
    "yunda": "yunda",
    "ems": "ems",
}


def kuaidi100_company(carrier: str) -> str:
    """The Kuaidi100 company code of our carrier code (unknown: ours, as it is)."""
    carrier = carrier.strip()
    return COMPANY_CODES.get(carrier.lower(), carrier)


def kuaidi100_query_sign(param: str, key: str, customer: str) -> str:
    """``upper(md5_hex(param + key + customer))``: the real-time query's ``sign``."""
    text = param + key + customer
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the protocol


def _base_url(account: AccountConfig) -> str:
    return (account.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")


def _param_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _answer(result: HttpResult, platform: str) -> Mapping[str, Any]:
    if result.status in (401, 403):
        raise TerminalError(f"{platform} refused the credentials: HTTP {result.status}")
    if result.status >= 400:
        raise PlatformError(str(result.status), result.body[:300].decode("utf-8", "replace"))
    try:
        body = result.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PlatformError(str(result.status), "the answer is not a JSON object")
    return body


def _key(account: AccountConfig) -> str:
    key = account.secrets.get("key", "")
    if not key:
        raise ValueError(f"kuaidi100 account {account.code} has no key secret")
    return key


REDACTED = "***"


class _Redacting:
    """A call recorder that logs the request body with the account key masked (the
    subscription carries the key in its ``param``)."""

    def __init__(self, inner: CallRecorder, secret: str) -> None:
        self.inner = inner
        self.secret = secret

    def start(self, *, operation: str, method: str, url: str, body: str) -> int:
        masked = body.replace(self.secret, REDACTED) if self.secret else body
        return self.inner.start(operation=operation, method=method, url=url, body=masked)

    def finish(
        self,
        call_id: int,
        *,
        status: int | None,
        body: str,
        latency_ms: int,
        outcome: str,
        error: str = "",
    ) -> None:
        self.inner.finish(
            call_id, status=status, body=body, latency_ms=latency_ms, outcome=outcome, error=error
        )


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """``already_subscribed``: Kuaidi100 had the subscription before (returnCode 501)."""

    already_subscribed: bool
    return_code: str
    message: str


def kuaidi100_subscribe(
    account: AccountConfig, http: HttpClient, *, carrier: str, number: str
) -> SubscribeResult:
    """Subscribe the waybill's pushes at the account's callback URL, signed with its salt.

    Raises ``ValueError`` when the account lacks the key or callback URL or the waybill has no
    number (cannot be built), ``TerminalError`` when the key is refused, ``PlatformError`` for
    any other refusal, and the client's transient errors.
    """
    key = _key(account)
    callback = account.options.get("callback_url", "")
    if not callback:
        raise ValueError(f"kuaidi100 account {account.code} has no callback_url option")
    if not number.strip():
        raise ValueError("the waybill has no tracking number")
    param = _param_text(
        {
            "company": kuaidi100_company(carrier),
            "number": number.strip(),
            "from": "",
            "to": "",
            "key": key,
            "parameters": {
                "callbackurl": callback,
                "salt": account.secrets.get("salt", ""),
                "resultv2": "1",
            },
        }
    )
    recorder = http.recorder
    if recorder is not None:
        http.recorder = _Redacting(recorder, key)
    try:
        result = http.request(
            "POST",
            f"{_base_url(account)}/poll",
            operation="kuaidi100.subscribe",
            data={"schema": "json", "param": param},
        )
    finally:
        http.recorder = recorder
    body = _answer(result, "kuaidi100")
    code, message = str(body.get("returnCode", "")), str(body.get("message", ""))
    if code == SUBSCRIBED and body.get("result") is True:
        return SubscribeResult(already_subscribed=False, return_code=code, message=message)
    if code == ALREADY_SUBSCRIBED:
        return SubscribeResult(already_subscribed=True, return_code=code, message=message)
    if code in KEY_REFUSED:
        raise TerminalError(f"kuaidi100 refused the key: {code} {message}")
    raise PlatformError(code or str(result.status), message)


def kuaidi100_query(
    account: AccountConfig, http: HttpClient, *, carrier: str, number: str
) -> dict[str, Any] | None:
    """The waybill's whole trace now (a ``lastResult``-shaped dict), or None when Kuaidi100
    has no trace for it yet. Raises like ``kuaidi100_subscribe`` (a missing ``customer``
    option is a ``ValueError``)."""
    key = _key(account)
    customer = account.options.get("customer", "")
    if not customer:
        raise ValueError(f"kuaidi100 account {account.code} has no customer option")
    param = _param_text({"com": kuaidi100_company(carrier), "num": number, "resultv2": "1"})
    result = http.request(
        "POST",
        f"{_base_url(account)}/poll/query.do",
        operation="kuaidi100.query",
        data={
            "customer": customer,
            "sign": kuaidi100_query_sign(param, key, customer),
            "param": param,
        },
    )
    body = _answer(result, "kuaidi100")
    if body.get("result") is False or "nu" not in body:
        code, message = str(body.get("returnCode", "")), str(body.get("message", ""))
        if code == QUERY_NO_RESULT:
            return None
        if code in KEY_REFUSED:
            raise TerminalError(f"kuaidi100 refused the key: {code} {message}")
        raise PlatformError(code or str(result.status), message)
    return dict(body)


@writers.register("kuaidi100")
def kuaidi100_subscribe_write(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """The write-back of a kuaidi100 account: one outbox ``subscribe`` entry = one
    subscription; 501 (subscribed before) is ``already_done``."""
    number = str(request.payload.get("tracking_number") or "")
    result = kuaidi100_subscribe(
        account, http, carrier=str(request.payload.get("carrier") or ""), number=number
    )
    return WriteResult(
        already_done=result.already_subscribed,
        remote_ref=number,
        raw_status=f"{result.return_code} {result.message}".strip(),
    )
