"""E-mail through Django's SMTP mail backend, keeping the server's own answer to DATA.

``url`` is ``smtp://[user@]host:port`` (``smtps://`` for implicit TLS); ``--option
starttls=1``; the secret is the SMTP password; ``--option from=`` the sender and ``--option
to=a@x,b@y`` addresses always added to the rule's e-mail recipients.
"""

from __future__ import annotations

import smtplib
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from health.alerts.notifiers.base import (
    DeliveryResult,
    Message,
    NotifierConfig,
    NotifierKindSpec,
    OptionSpec,
    emails,
    message_body,
    notifier_kinds,
)


class AnswerRecordingBackend(EmailBackend):
    """Django's SMTP backend, sending each message with MAIL/RCPT/DATA one by one so the
    server's answers are kept (``answers``) instead of dropped by ``sendmail``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fail_silently", False)
        super().__init__(**kwargs)
        self.answers: list[tuple[int, str]] = []

    def _send(self, email_message: Any) -> bool:
        recipients = email_message.recipients()
        if not recipients:
            return False
        from_email = email_message.from_email
        message = email_message.message()
        assert self.connection is not None
        code, answer = self.connection.mail(from_email)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, answer, from_email)
        for recipient in recipients:
            code, answer = self.connection.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
        code, answer = self.connection.data(message.as_bytes(linesep="\r\n"))
        self.answers.append((code, answer.decode(errors="replace")))
        if code != 250:
            raise smtplib.SMTPDataError(code, answer)
        return True


def _answer(code: int, text: bytes | str) -> str:
    value = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"SMTP {code} {value}"[:300]


def email_send(config: NotifierConfig, message: Message) -> DeliveryResult:
    parts = urlsplit(config.url)
    extra = [a.strip() for a in config.options.get("to", "").split(",") if a.strip()]
    to = sorted({*emails(message.recipients), *extra})
    summary: dict[str, Any] = {"subject": message.title, "to": to, "host": parts.hostname or ""}
    if not to:
        return DeliveryResult(
            False, "not sent", error="no e-mail recipient", payload_summary=summary
        )
    backend = AnswerRecordingBackend(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username or ""),
        password=config.secret,
        use_tls=config.options.get("starttls", "") in ("1", "true", "yes"),
        use_ssl=parts.scheme == "smtps",
        timeout=10,
    )
    email = EmailMessage(
        subject=message.title,
        body=message_body(message),
        from_email=config.options.get("from", "orderhub@localhost"),
        to=to,
        headers={"X-OrderHub-Reference": message.reference} if message.reference else None,
        connection=backend,
    )
    try:
        email.send()
    except smtplib.SMTPResponseException as exc:
        return DeliveryResult(
            False,
            _answer(exc.smtp_code, exc.smtp_error),
            transient=400 <= exc.smtp_code < 500,
            error=_answer(exc.smtp_code, exc.smtp_error),
            payload_summary=summary,
        )
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return DeliveryResult(
            False,
            _answer(code, text),
            transient=400 <= code < 500,
            error=f"recipient refused: {_answer(code, text)}",
            payload_summary=summary,
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        return DeliveryResult(
            False,
            "connection error",
            transient=True,
            error=f"{type(exc).__name__}: {exc}"[:300],
            payload_summary=summary,
        )
    code, answer = backend.answers[-1]
    return DeliveryResult(
        True, _answer(code, answer), provider_result=_answer(code, answer), payload_summary=summary
    )


notifier_kinds.add(
    "email",
    NotifierKindSpec(
        send=email_send,
        options=(
            OptionSpec("from", help="sender address"),
            OptionSpec("to", help="addresses always added, comma-separated"),
            OptionSpec("starttls", help="1 to STARTTLS after connecting"),
        ),
        key_help="the SMTP password (the user is in the URL)",
    ),
)
