"""Creating and changing channel accounts."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from channels_app.adapters.base import adapters
from channels_app.crypto import secrets_decrypt, secrets_encrypt
from channels_app.models import ChannelAccount
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append


def _validate(*, kind: str, options: dict[str, str], secrets: dict[str, str]) -> None:
    if kind not in adapters:
        known = ", ".join(adapters) or "none"
        raise ValidationError(f"unknown channel kind {kind!r} (known: {known})")
    specs = adapters.get(kind).options
    option_names = {spec.name for spec in specs if not spec.secret}
    secret_names = {spec.name for spec in specs if spec.secret}
    errors: list[str] = []
    for name in options:
        if name not in option_names:
            errors.append(f"{kind} takes no option {name!r}")
    for name in secrets:
        if name not in secret_names:
            errors.append(f"{kind} takes no secret {name!r}")
    for spec in specs:
        given = secrets if spec.secret else options
        if spec.required and not given.get(spec.name):
            errors.append(f"{kind} needs {'secret' if spec.secret else 'option'} {spec.name!r}")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def channel_account_create(
    *,
    kind: str,
    code: str,
    name: str = "",
    options: dict[str, str],
    secrets: dict[str, str],
    user: Any | None = None,
) -> ChannelAccount:
    """Create an account after checking ``kind`` and its required options and secrets.

    Secrets are encrypted before they reach the database; the ledger event names them only.
    Raises ``ValidationError`` (unknown kind, missing/unknown option, bad or taken code).
    """
    if not code or slugify(code) != code:
        raise ValidationError(f"code {code!r} must be a slug (lower-case letters, digits, -, _)")
    _validate(kind=kind, options=options, secrets=secrets)
    if ChannelAccount.objects.filter(code=code).exists():
        raise ValidationError(f"a channel account with code {code!r} already exists")
    account = ChannelAccount.objects.create(
        kind=kind,
        code=code,
        name=name or code,
        options=dict(options),
        secrets_encrypted=secrets_encrypt(dict(secrets)),
    )
    ledger_append(
        action="channel.account_created",
        actor=actor_label(user, "cli"),
        subject_type="channel_account",
        subject_id=account.pk,
        after={"kind": kind, "code": code, "options": dict(options), "secrets": sorted(secrets)},
    )
    return account


@transaction.atomic
def channel_account_secrets_set(
    *, account_id: int, secrets: dict[str, str], user: Any | None = None
) -> ChannelAccount:
    """Replace the named secrets (others kept), re-encrypting with the current first key."""
    account = ChannelAccount.objects.select_for_update().get(pk=account_id)
    merged = {**secrets_decrypt(account.secrets_encrypted), **secrets}
    _validate(kind=account.kind, options=account.options, secrets=merged)
    account.secrets_encrypted = secrets_encrypt(merged)
    account.save(update_fields=["secrets_encrypted", "updated_at"])
    ledger_append(
        action="channel.secrets_changed",
        actor=actor_label(user, "admin"),
        subject_type="channel_account",
        subject_id=account.pk,
        after={"secrets": sorted(secrets)},
    )
    return account
