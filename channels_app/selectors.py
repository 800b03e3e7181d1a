"""Reads of channel accounts and the inbox. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from channels_app.adapters.base import AccountConfig
from channels_app.crypto import secrets_decrypt
from channels_app.models import ChannelAccount
from orderhub.choices import FactOutcome
from orderhub.models import StatusFact


def account_config(account: ChannelAccount) -> AccountConfig:
    """The adapter's view of an account: plain options, secrets decrypted."""
    return AccountConfig(
        code=account.code,
        kind=account.kind,
        options={str(k): str(v) for k, v in (account.options or {}).items()},
        secrets=secrets_decrypt(account.secrets_encrypted),
    )


def channel_account_config_get(*, code: str) -> AccountConfig:
    """Raises ``ChannelAccount.DoesNotExist`` for an unknown code."""
    return account_config(ChannelAccount.objects.get(code=code))


def channel_account_config_list(*, enabled_only: bool = True) -> list[AccountConfig]:
    accounts: QuerySet[ChannelAccount] = ChannelAccount.objects.order_by("code")
    if enabled_only:
        accounts = accounts.filter(enabled=True)
    return [account_config(account) for account in accounts]


@dataclass(frozen=True, slots=True)
class UnmappedStatus:
    system_kind: str
    raw_status: str
    fact_count: int
    order_count: int


def unmapped_status_list() -> list[UnmappedStatus]:
    """Raw statuses stored on facts without a milestone, by channel kind, most frequent first."""
    rows = (
        StatusFact.objects.filter(outcome=FactOutcome.UNMAPPED)
        .values("system", "raw_status")
        .annotate(facts=Count("id"), orders=Count("order_id", distinct=True))
    )
    merged: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        key = (row["system"].split(":", 1)[0], row["raw_status"])
        counts = merged.setdefault(key, [0, 0])
        counts[0] += row["facts"]
        counts[1] += row["orders"]
    return sorted(
        (
            UnmappedStatus(system_kind=k, raw_status=r, fact_count=f, order_count=o)
            for (k, r), (f, o) in merged.items()
        ),
        key=lambda item: (-item.fact_count, item.system_kind, item.raw_status),
    )
