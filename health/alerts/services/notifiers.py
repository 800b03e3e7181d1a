"""Creating and changing notifiers (audited; URL and secret encrypted, never in an event)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction

from channels_app.crypto import secrets_decrypt, secrets_encrypt
from health.alerts.exceptions import AlertError
from health.alerts.models import Notifier
from health.alerts.notifiers.base import NotifierConfig, notifier_kinds
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append


def url_mask(url: str) -> str:
    """The URL with its query values (robot keys, access tokens) and any password masked:
    ``...send?key=****cdef``."""
    parts = urlsplit(url)
    query = urlencode(
        [
            (name, f"****{value[-4:]}" if len(value) > 8 else "****")
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}:****@{host}" if ":" in userinfo else netloc
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _validate(*, kind: str, url: str, secret: str, options: dict[str, str]) -> None:
    if kind not in notifier_kinds:
        raise AlertError(f"unknown notifier kind {kind!r} (known: {', '.join(notifier_kinds)})")
    spec = notifier_kinds.get(kind)
    parts = urlsplit(url)
    allowed = ("smtp", "smtps") if kind == "email" else ("http", "https")
    if parts.scheme not in allowed or not parts.hostname:
        raise AlertError(f"{kind}: the URL must be {' or '.join(allowed)}://host/... (got {url!r})")
    if spec.secret_required and not secret:
        raise AlertError(f"{kind}: a secret is required ({spec.key_help})")
    missing = [o.name for o in spec.options if o.required and not options.get(o.name)]
    if missing:
        raise AlertError(f"{kind}: missing option(s) {', '.join(missing)}")
    known = {o.name for o in spec.options}
    unknown = sorted(set(options) - known)
    if unknown:
        raise AlertError(f"{kind}: unknown option(s) {', '.join(unknown)}")


@transaction.atomic
def notifier_create(
    *,
    kind: str,
    code: str,
    url: str,
    secret: str = "",
    options: dict[str, str] | None = None,
    name: str = "",
    enabled: bool = True,
    user: Any | None = None,
    source: str = "cli",
) -> Notifier:
    options = dict(options or {})
    _validate(kind=kind, url=url, secret=secret, options=options)
    if Notifier.objects.filter(code=code).exists():
        raise AlertError(f"a notifier with code {code!r} exists already")
    notifier = Notifier.objects.create(
        kind=kind,
        code=code,
        name=name,
        enabled=enabled,
        options=options,
        url_masked=url_mask(url),
        secrets_encrypted=secrets_encrypt({"url": url, "secret": secret}),
    )
    ledger_append(
        action="alerts.notifier_created",
        actor=actor_label(user, source),
        subject_type="notifier",
        subject_id=notifier.code,
        after={
            "kind": kind,
            "url": notifier.url_masked,
            "options": options,
            "enabled": enabled,
            "secret_set": bool(secret),
        },
    )
    return notifier


@transaction.atomic
def notifier_update(
    *,
    notifier_id: int,
    user: Any | None,
    source: str = "admin",
    url: str | None = None,
    secret: str | None = None,
    options: dict[str, str] | None = None,
    enabled: bool | None = None,
    name: str | None = None,
) -> Notifier:
    """Change what is given (None keeps it; an empty ``url``/``secret`` string keeps it too)."""
    notifier = Notifier.objects.select_for_update().get(pk=notifier_id)
    current = secrets_decrypt(notifier.secrets_encrypted)
    new_url = url or current.get("url", "")
    new_secret = secret if secret else current.get("secret", "")
    new_options = dict(notifier.options if options is None else options)
    _validate(kind=notifier.kind, url=new_url, secret=new_secret, options=new_options)
    before = {"url": notifier.url_masked, "options": notifier.options, "enabled": notifier.enabled}
    notifier.url_masked = url_mask(new_url)
    notifier.options = new_options
    notifier.secrets_encrypted = secrets_encrypt({"url": new_url, "secret": new_secret})
    if enabled is not None:
        notifier.enabled = enabled
    if name is not None:
        notifier.name = name
    notifier.save()
    ledger_append(
        action="alerts.notifier_updated",
        actor=actor_label(user, source),
        subject_type="notifier",
        subject_id=notifier.code,
        before=before,
        after={
            "url": notifier.url_masked,
            "options": new_options,
            "enabled": notifier.enabled,
            "secret_changed": bool(secret),
        },
    )
    return notifier


def notifier_config(notifier: Notifier) -> NotifierConfig:
    values = secrets_decrypt(notifier.secrets_encrypted)
    return NotifierConfig(
        kind=notifier.kind,
        code=notifier.code,
        url=values.get("url", ""),
        secret=values.get("secret", ""),
        options={k: str(v) for k, v in notifier.options.items()},
    )
