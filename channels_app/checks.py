"""System checks: accounts must name a registered adapter kind; secrets keys in production."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError


@register(Tags.database)
def check_account_kinds(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """An account whose kind has no adapter would quarantine every delivery: refuse start-up."""
    from channels_app.adapters.base import adapters
    from channels_app.models import ChannelAccount

    try:
        rows = list(ChannelAccount.objects.values_list("code", "kind"))
    except DatabaseError:  # table not migrated yet
        return []
    return [
        Error(
            f"channel account {code!r} names unknown kind {kind!r}",
            hint=f"known kinds: {', '.join(adapters) or 'none'}",
            id="channels.E001",
        )
        for code, kind in rows
        if kind not in adapters
    ]


@register()
def check_secrets_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.CHANNEL_SECRETS_DEV_KEY_ALLOWED or settings.CHANNEL_SECRETS_KEYS:
        return []
    return [
        Error(
            "CHANNEL_SECRETS_KEYS is not set: channel secrets cannot be encrypted",
            hint="set one or more Fernet keys, comma-separated (README)",
            id="channels.E002",
        )
    ]


@register()
def check_journal(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The emergency intake journal holds more, or older, deliveries than the alarm limits,
    or is nearly full."""
    from channels_app.selectors import journal_health

    health = journal_health()
    if not health["alarm"]:
        return []
    return [
        Warning(
            "the emergency intake journal alarms ("
            + "; ".join(health["reasons"])
            + "): the database has not taken its deliveries yet",
            hint="check the database, then run `manage.py journal_replay` (README)",
            id="channels.W010",
        )
    ]
