"""Sandbox receivers, a real SMTP server on 127.0.0.1, notifiers wired to them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from channels_app.sandbox_api.server import SandboxAPI
from health.alerts.models import Notifier
from health.alerts.services.notifiers import notifier_create
from orderhub.celery import app

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "dt-access-token-sandbox"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
WEBHOOK_SECRET = "webhook-shared-secret"
VMS_SECRET_ID = "AKIDsandbox0000000000000000000000000"
VMS_SECRET_KEY = "vms-secret-key-sandbox"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-password"


@pytest.fixture
def eager() -> Iterator[None]:
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def sandbox() -> Iterator[SandboxAPI]:
    api = SandboxAPI().start()
    api.alerts.wecom_add(WECOM_KEY)
    api.alerts.dingtalk_add(DINGTALK_TOKEN, DINGTALK_SECRET)
    api.alerts.webhook_add("ops", WEBHOOK_SECRET)
    api.alerts.vms_add(VMS_SECRET_ID, VMS_SECRET_KEY)
    try:
        yield api
    finally:
        api.stop()


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list[Envelope] = field(default_factory=list)


class _Handler:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.inbox.messages.append(envelope)
        return "250 2.0.0 Ok: queued as SANDBOX1"


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox(host="127.0.0.1", port=_free_port())
    controller = Controller(
        _Handler(inbox),
        hostname=inbox.host,
        port=inbox.port,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def make_notifier(api: SandboxAPI, kind: str, code: str = "", **overrides: Any) -> Notifier:
    code = code or f"{kind}-ops"
    values: dict[str, Any]
    if kind == "wecom":
        values = {"url": f"{api.url}/cgi-bin/webhook/send?key={WECOM_KEY}"}
    elif kind == "dingtalk":
        values = {
            "url": f"{api.url}/robot/send?access_token={DINGTALK_TOKEN}",
            "secret": DINGTALK_SECRET,
        }
    elif kind == "webhook":
        values = {"url": f"{api.url}/alert-webhook/ops", "secret": WEBHOOK_SECRET}
    elif kind == "voice":
        values = {
            "url": f"{api.url}/",
            "secret": VMS_SECRET_KEY,
            "options": {
                "secret_id": VMS_SECRET_ID,
                "sdk_app_id": "1400000001",
                "template_id": "1234567",
            },
        }
    else:
        raise ValueError(kind)
    values.update(overrides)
    return notifier_create(kind=kind, code=code, **values)
