"""The receivers of alert messages, as the real services answer, checking every signature.

* WeCom group robot: ``POST /cgi-bin/webhook/send?key=K`` → ``{"errcode":0,"errmsg":"ok"}``;
  an unknown key ``93000`` (invalid webhook url), a bad body ``40008`` (invalid message type),
  over 20 messages a minute ``45009``.
* DingTalk custom robot: ``POST /robot/send?access_token=T&timestamp=&sign=``; unknown token
  ``300001``, a timestamp more than an hour off or a wrong sign ``310000`` (inside HTTP 200).
* Signed webhook: ``POST /alert-webhook/<name>``, HMAC-SHA256 over ``f"{ts}."`` + body; a
  bad signature 401, a timestamp more than 300 s off 401, a reference seen before 200 (dedupe).
* Tencent Cloud VMS ``SendTtsVoice``: ``POST /`` with ``X-TC-Action``; TC3-HMAC-SHA256 checked
  (``AuthFailure.SignatureFailure``, ``AuthFailure.SecretIdNotFound``,
  ``AuthFailure.SignatureExpire``), answers ``{"Response": {"SendStatus": {...}}}``.

Written from the providers' documentation, independently of OrderHub's senders, so a sender
that signs wrongly is refused here as it would be there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from channels_app.sandbox_api.core import Reply, Request, SandboxCore


class AlertReceivers:
    def __init__(self, api: SandboxCore) -> None:
        self.api = api
        self.wecom_keys: set[str] = set()
        self.dingtalk_tokens: dict[str, str] = {}  # access_token -> secret
        self.webhook_secrets: dict[str, str] = {}  # name -> secret
        self.vms_keys: dict[str, str] = {}  # SecretId -> SecretKey
        self.received: dict[str, list[dict[str, Any]]] = {
            "wecom": [],
            "dingtalk": [],
            "webhook": [],
            "voice": [],
        }
        self.refused: dict[str, list[dict[str, Any]]] = {k: [] for k in self.received}
        self._seen_references: set[str] = set()
        self._wecom_times: dict[str, list[float]] = {}
        self.clock = time.time
        self._call_id = itertools.count(1)

    # --- set-up ------------------------------------------------------------------------------
    def wecom_add(self, key: str) -> None:
        self.wecom_keys.add(key)

    def dingtalk_add(self, access_token: str, secret: str) -> None:
        self.dingtalk_tokens[access_token] = secret

    def webhook_add(self, name: str, secret: str) -> None:
        self.webhook_secrets[name] = secret

    def vms_add(self, secret_id: str, secret_key: str) -> None:
        self.vms_keys[secret_id] = secret_key

    def route(self, request: Request) -> Reply | None:
        if request.path == "/cgi-bin/webhook/send":
            return self.api.guarded("wecom.robot_send", lambda: self._wecom(request))
        if request.path == "/robot/send":
            return self.api.guarded("dingtalk.robot_send", lambda: self._dingtalk(request))
        if request.path.startswith("/alert-webhook/"):
            return self.api.guarded("webhook.receive", lambda: self._webhook(request))
        if request.path == "/" and request.headers.get("x-tc-action"):
            return self.api.guarded("vms.send_tts_voice", lambda: self._vms(request))
        return None

    def _keep(self, kind: str, ok: bool, entry: dict[str, Any]) -> None:
        with self.api.lock:
            (self.received if ok else self.refused)[kind].append(entry)

    # --- WeCom ---------------------------------------------------------------------------------
    def _wecom(self, request: Request) -> Reply:
        key = request.query.get("key", "")
        if key not in self.wecom_keys:
            self._keep("wecom", False, {"key": key})
            return Reply(200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [sandbox]"})
        body = request.json()
        msgtype = body.get("msgtype") if isinstance(body, dict) else None
        if msgtype not in ("text", "markdown") or not isinstance(body.get(msgtype), dict):
            self._keep("wecom", False, {"body": body})
            return Reply(200, {"errcode": 40008, "errmsg": "invalid message type"})
        content = body[msgtype].get("content", "")
        limit = 2048 if msgtype == "text" else 4096
        if not content or len(content.encode()) > limit:
            self._keep("wecom", False, {"body": body})
            return Reply(200, {"errcode": 40058, "errmsg": "content exceed max length"})
        now = self.clock()
        with self.api.lock:
            recent = [t for t in self._wecom_times.get(key, []) if t > now - 60]
            if len(recent) >= 20:
                self._wecom_times[key] = recent
                return Reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
            self._wecom_times[key] = [*recent, now]
        self._keep("wecom", True, {"key": key, "body": body})
        return Reply(200, {"errcode": 0, "errmsg": "ok"})

    # --- DingTalk ------------------------------------------------------------------------------
    def _dingtalk(self, request: Request) -> Reply:
        token = request.query.get("access_token", "")
        if token not in self.dingtalk_tokens:
            self._keep("dingtalk", False, {"token": token})
            return Reply(200, {"errcode": 300001, "errmsg": "token is not exist"})
        secret = self.dingtalk_tokens[token]
        timestamp = request.query.get("timestamp", "")
        sign = request.query.get("sign", "")  # parse_qsl already URL-decoded it once
        if not timestamp.isdigit() or abs(self.clock() * 1000 - int(timestamp)) > 3600_000:
            self._keep("dingtalk", False, {"timestamp": timestamp})
            return Reply(200, {"errcode": 310000, "errmsg": "invalid timestamp"})
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected.encode(), sign.encode()):
            self._keep("dingtalk", False, {"sign": sign})
            return Reply(200, {"errcode": 310000, "errmsg": "sign not match, more: [sandbox]"})
        body = request.json()
        msgtype = body.get("msgtype") if isinstance(body, dict) else None
        if msgtype not in ("text", "markdown", "link", "actionCard", "feedCard"):
            return Reply(200, {"errcode": 40035, "errmsg": "缺少参数 json"})
        self._keep("dingtalk", True, {"token": token, "body": body})
        return Reply(200, {"errcode": 0, "errmsg": "ok"})

    # --- signed webhook ------------------------------------------------------------------------
    def _webhook(self, request: Request) -> Reply:
        name = request.path.removeprefix("/alert-webhook/").strip("/")
        secret = self.webhook_secrets.get(name)
        if secret is None:
            return Reply(404, {"error": "no such webhook"})
        timestamp = request.headers.get("x-orderhub-timestamp", "")
        signature = request.headers.get("x-orderhub-signature", "")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > 300:
            self._keep("webhook", False, {"timestamp": timestamp})
            return Reply(401, {"error": "timestamp outside the replay window"})
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        if not hmac.compare_digest(f"sha256={digest.hexdigest()}".encode(), signature.encode()):
            self._keep("webhook", False, {"signature": signature})
            return Reply(401, {"error": "bad signature"})
        reference = request.headers.get("x-orderhub-reference", "")
        with self.api.lock:
            duplicate = bool(reference) and reference in self._seen_references
            self._seen_references.add(reference)
        if not duplicate:
            self._keep(
                "webhook",
                True,
                {"name": name, "body": request.json(), "headers": dict(request.headers)},
            )
        return Reply(200, {"ok": True, "duplicate": duplicate})

    # --- Tencent Cloud VMS ---------------------------------------------------------------------
    def _vms_error(self, code: str, message: str) -> Reply:
        self._keep("voice", False, {"code": code})
        return Reply(
            200,
            {
                "Response": {
                    "Error": {"Code": code, "Message": message},
                    "RequestId": str(uuid.uuid4()),
                }
            },
        )

    def _vms(self, request: Request) -> Reply:
        headers = request.headers
        if (
            headers.get("x-tc-action") != "SendTtsVoice"
            or headers.get("x-tc-version") != "2020-09-02"
        ):
            return self._vms_error("InvalidAction", "The requested action is not supported.")
        authorization = headers.get("authorization", "")
        try:
            algorithm, rest = authorization.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            secret_id, date, service, terminator = fields["Credential"].split("/")
        except (ValueError, KeyError):
            return self._vms_error("AuthFailure.InvalidAuthorization", "Authorization is invalid.")
        if algorithm != "TC3-HMAC-SHA256" or service != "vms" or terminator != "tc3_request":
            return self._vms_error("AuthFailure.InvalidAuthorization", "Authorization is invalid.")
        secret_key = self.vms_keys.get(secret_id)
        if secret_key is None:
            return self._vms_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > 300:
            return self._vms_error("AuthFailure.SignatureExpire", "Signature expired.")
        if datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != date:
            return self._vms_error("AuthFailure.SignatureFailure", "Credential date mismatch.")
        signed = fields.get("SignedHeaders", "").split(";")
        # TC3: header names and values lower-cased and trimmed, one "name:value\n" each.
        canonical_headers = "".join(
            f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed
        )
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                canonical_headers,
                ";".join(signed),
                hashlib.sha256(request.body).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                timestamp,
                f"{date}/vms/tc3_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )

        def mac(key: bytes, text: str) -> bytes:
            return hmac.new(key, text.encode(), hashlib.sha256).digest()

        key = mac(mac(mac(f"TC3{secret_key}".encode(), date), "vms"), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), fields.get("Signature", "").encode()):
            return self._vms_error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )
        body = json.loads(request.body or b"{}")
        missing = [k for k in ("TemplateId", "CalledNumber", "VoiceSdkAppid") if not body.get(k)]
        if missing:
            return self._vms_error(
                "MissingParameter", f"The request is missing a required parameter `{missing[0]}`."
            )
        if not str(body["CalledNumber"]).startswith("+"):
            return self._vms_error(
                "InvalidParameterValue.InvalidCalledNumber", "CalledNumber is invalid."
            )
        call_id = f"sandbox-call-{next(self._call_id)}"
        self._keep("voice", True, {"body": body, "headers": dict(headers)})
        return Reply(
            200,
            {
                "Response": {
                    "SendStatus": {
                        "CallId": call_id,
                        "SessionContext": body.get("SessionContext", ""),
                    },
                    "RequestId": str(uuid.uuid4()),
                }
            },
        )
