"""Creating and changing channel accounts: every write is audited.

Each service locks the account row, validates, saves (simple-history records the row, without
the encrypted secrets) and appends one ledger event with the actor, the old and new values and
the reason. Secrets never enter an event or the history: only their names do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from channels_app.adapters.base import adapters
from channels_app.crypto import secrets_decrypt, secrets_encrypt
from channels_app.models import ChannelAccount
from orderhub.models import Warehouse
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append

WRITEBACK_OPTION = "writeback"
WRITEBACK_OFF = "off"
WRITEBACK_VALUES = ("on", WRITEBACK_OFF)


@dataclass(frozen=True, slots=True)
class WritebackNeed:
    """One value a kind's write-back writer reads from the account: any one of ``names``."""

    names: tuple[str, ...]
    secret: bool = False


# What each write-back writer (channels_app.outbound.shop_writers, the adapters' clients) reads
# beyond the options its adapter already requires. Shopify without a domain would call
# "https:/admin/...", WooCommerce without a site the bare path, all of them without their token.
WRITEBACK_NEEDS: dict[str, tuple[WritebackNeed, ...]] = {
    "shopify": (WritebackNeed(("shop_domain", "base_url")), WritebackNeed(("access_token",), True)),
    "youzan": (WritebackNeed(("access_token",), True),),
    "woocommerce": (
        WritebackNeed(("site_url", "base_url")),
        WritebackNeed(("consumer_key",), True),
        WritebackNeed(("consumer_secret",), True),
    ),
    "douyin": (WritebackNeed(("access_token",), True),),
}


def _has_writer(kind: str) -> bool:
    from channels_app.outbound.base import writers

    return kind in writers


def writeback_enabled(*, kind: str, options: dict[str, Any]) -> bool:
    """Whether accounts of ``kind`` with these options get write-back entries."""
    return _has_writer(kind) and options.get(WRITEBACK_OPTION, "on") != WRITEBACK_OFF


def _writeback_errors(*, kind: str, options: dict[str, Any], secrets: dict[str, str]) -> list[str]:
    if not writeback_enabled(kind=kind, options=options):
        return []
    errors = []
    for need in WRITEBACK_NEEDS.get(kind, ()):
        given = secrets if need.secret else options
        if any(given.get(name) for name in need.names):
            continue
        what = "secret" if need.secret else "option"
        alternatives = " or ".join(repr(name) for name in need.names)
        errors.append(
            f"{kind} write-back needs {what} {alternatives}; set it, or turn write-back off "
            f"with the option {WRITEBACK_OPTION}={WRITEBACK_OFF} "
            f"(channel_add --option {WRITEBACK_OPTION}={WRITEBACK_OFF})"
        )
    return errors


def _validate(
    *, kind: str, options: dict[str, Any], secrets: dict[str, str], writeback: bool = True
) -> None:
    if kind not in adapters:
        known = ", ".join(adapters) or "none"
        raise ValidationError(f"unknown channel kind {kind!r} (known: {known})")
    specs = adapters.get(kind).options
    option_names = {spec.name for spec in specs if not spec.secret}
    secret_names = {spec.name for spec in specs if spec.secret}
    errors: list[str] = []
    for name in options:
        if name == WRITEBACK_OPTION and _has_writer(kind):
            if options[name] not in WRITEBACK_VALUES:
                errors.append(f"option {WRITEBACK_OPTION!r} must be 'on' or 'off'")
        elif name not in option_names:
            errors.append(f"{kind} takes no option {name!r}")
    for name in secrets:
        if name not in secret_names:
            errors.append(f"{kind} takes no secret {name!r}")
    for spec in specs:
        given = secrets if spec.secret else options
        if spec.required and not given.get(spec.name):
            errors.append(f"{kind} needs {'secret' if spec.secret else 'option'} {spec.name!r}")
    warehouse = options.get("warehouse")
    if (
        "warehouse" in option_names
        and warehouse
        and not Warehouse.objects.filter(code=warehouse).exists()
    ):
        errors.append(f"warehouse {warehouse!r} does not exist")
    if writeback and not errors:
        errors.extend(_writeback_errors(kind=kind, options=options, secrets=secrets))
    if errors:
        raise ValidationError(errors)


def channel_account_validate(
    *,
    kind: str,
    options: dict[str, Any],
    secrets: dict[str, str],
    account_id: int | None = None,
) -> None:
    """The checks the account services make, for a form to show before saving: ``secrets``
    are the ones given (merged over the stored ones of ``account_id``). Never writes."""
    if account_id is not None:
        account = ChannelAccount.objects.get(pk=account_id)
        kind = account.kind
        secrets = {**secrets_decrypt(account.secrets_encrypted), **secrets}
    _validate(kind=kind, options=options, secrets=secrets)


def _references(reason: str) -> dict[str, Any]:
    return {"reason": reason}


@transaction.atomic
def channel_account_create(
    *,
    kind: str,
    code: str,
    name: str = "",
    options: dict[str, str],
    secrets: dict[str, str],
    user: Any | None = None,
    source: str = "cli",
    reason: str = "",
) -> ChannelAccount:
    """Create an account after checking ``kind``, its required options and secrets, and what
    its write-back needs (unless the option ``writeback=off`` turns write-back off).

    Secrets are encrypted before they reach the database; the ledger event names them only.
    Raises ``ValidationError`` (unknown kind, missing/unknown option, bad or taken code, a
    write-back that could not be sent).
    """
    if not code or slugify(code) != code:
        raise ValidationError(f"code {code!r} must be a slug (lower-case letters, digits, -, _)")
    _validate(kind=kind, options=options, secrets=secrets)
    if ChannelAccount.objects.filter(code=code).exists():
        raise ValidationError(f"a channel account with code {code!r} already exists")
    account = ChannelAccount(
        kind=kind,
        code=code,
        name=name or code,
        options=dict(options),
        secrets_encrypted=secrets_encrypt(dict(secrets)),
    )
    account._history_user = user  # type: ignore[attr-defined]
    account._change_reason = reason or None  # type: ignore[attr-defined]
    account.save()
    ledger_append(
        action="channel.account_created",
        actor=actor_label(user, source),
        subject_type="channel_account",
        subject_id=account.pk,
        after={
            "kind": kind,
            "code": code,
            "name": account.name,
            "enabled": account.enabled,
            "options": dict(options),
            "secrets": sorted(secrets),
            "writeback": writeback_enabled(kind=kind, options=options),
        },
        references=_references(reason),
    )
    return account


_PLAIN_FIELDS = ("name", "enabled", "options", "needs_attention", "attention_reason")


def _account_change(
    *,
    account_id: int,
    action: str,
    changes: dict[str, Any],
    secrets: dict[str, str] | None = None,
    rekey: bool = False,
    user: Any | None,
    source: str,
    reason: str,
) -> ChannelAccount:
    """The one write path of an existing account (caller holds the transaction)."""
    account = ChannelAccount.objects.select_for_update().get(pk=account_id)
    unknown = set(changes) - set(_PLAIN_FIELDS)
    if unknown:
        raise ValueError(f"not an editable account field: {sorted(unknown)}")
    changed = {name: value for name, value in changes.items() if getattr(account, name) != value}
    current_secrets = secrets_decrypt(account.secrets_encrypted)
    new_secrets = {**current_secrets, **(secrets or {})}
    secrets_changed = sorted(
        name for name, value in (secrets or {}).items() if current_secrets.get(name) != value
    )
    if not changed and not secrets_changed and not rekey:
        return account  # nothing to do: no write, no event
    if "options" in changed or secrets_changed:
        options = changed.get("options", account.options)
        _validate(kind=account.kind, options=options, secrets=new_secrets)
    before: dict[str, Any] = {name: getattr(account, name) for name in changed}
    after: dict[str, Any] = dict(changed)
    for name, value in changed.items():
        setattr(account, name, value)
    update_fields = [*changed, "updated_at"]
    if secrets_changed or rekey:
        account.secrets_encrypted = secrets_encrypt(new_secrets)
        update_fields.append("secrets_encrypted")
        before["secrets"] = sorted(current_secrets)
        after["secrets"] = sorted(new_secrets)
        after["secrets_changed"] = secrets_changed
    account._history_user = user  # type: ignore[attr-defined]
    account._change_reason = reason or None  # type: ignore[attr-defined]
    account.save(update_fields=update_fields)
    ledger_append(
        action=action,
        actor=actor_label(user, source),
        subject_type="channel_account",
        subject_id=account.pk,
        before=before,
        after=after,
        references=_references(reason),
    )
    return account


@transaction.atomic
def channel_account_update(
    *,
    account_id: int,
    name: str | None = None,
    enabled: bool | None = None,
    options: dict[str, Any] | None = None,
    needs_attention: bool | None = None,
    attention_reason: str | None = None,
    secrets: dict[str, str] | None = None,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> ChannelAccount:
    """One edit of an account (the admin form): the given fields, and the named secrets
    replaced (others kept). One ``channel.account_updated`` event with the changed fields
    before and after; nothing changed → no write and no event. Locks the account row."""
    given = {
        "name": name,
        "enabled": enabled,
        "options": None if options is None else dict(options),
        "needs_attention": needs_attention,
        "attention_reason": attention_reason,
    }
    return _account_change(
        account_id=account_id,
        action="channel.account_updated",
        changes={field: value for field, value in given.items() if value is not None},
        secrets=secrets,
        user=user,
        source=source,
        reason=reason,
    )


@transaction.atomic
def channel_account_set_enabled(
    *,
    account_id: int,
    enabled: bool,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> ChannelAccount:
    """Enable or disable an account (a disabled one is not polled and gets no write-back).
    Already in that state → nothing written. Locks the account row."""
    return _account_change(
        account_id=account_id,
        action="channel.account_enabled" if enabled else "channel.account_disabled",
        changes={"enabled": enabled},
        user=user,
        source=source,
        reason=reason,
    )


@transaction.atomic
def channel_account_options_set(
    *,
    account_id: int,
    options: dict[str, Any],
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> ChannelAccount:
    """Replace the account's options, validated against its kind (and its write-back needs).
    The same options → nothing written. Locks the account row."""
    return _account_change(
        account_id=account_id,
        action="channel.options_changed",
        changes={"options": dict(options)},
        user=user,
        source=source,
        reason=reason,
    )


@transaction.atomic
def channel_account_secrets_set(
    *,
    account_id: int,
    secrets: dict[str, str],
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> ChannelAccount:
    """Replace the named secrets (others kept), re-encrypting with the current first key.
    The same values → nothing written. The event names the secrets, never their values."""
    return _account_change(
        account_id=account_id,
        action="channel.secrets_changed",
        changes={},
        secrets=secrets,
        user=user,
        source=source,
        reason=reason,
    )


@transaction.atomic
def channel_account_rekey(
    *,
    account_id: int,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> ChannelAccount:
    """Re-encrypt the account's secrets with the current first key of CHANNEL_SECRETS_KEYS
    (key rotation: put the new key first, re-key every account, then drop the old key).
    Values unchanged. Raises ``SecretsDecryptError`` when no configured key opens them."""
    return _account_change(
        account_id=account_id,
        action="channel.secrets_rekeyed",
        changes={},
        rekey=True,
        user=user,
        source=source,
        reason=reason,
    )
