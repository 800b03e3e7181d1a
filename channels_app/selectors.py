"""Reads of channel accounts, the inbox and the emergency journal. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from channels_app.adapters.base import AccountConfig
from channels_app.crypto import secrets_decrypt
from channels_app.journal import journal_status_read
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


# The journal alarms when it is this full (of JOURNAL_MAX_BYTES), before deliveries get 503.
JOURNAL_ALARM_FULL_SHARE = 0.8


class JournalHealth(TypedDict):
    segments: int
    records: int
    bytes: int
    oldest_age_s: float | None
    max_bytes: int
    alarm: bool
    reasons: list[str]


def journal_health() -> JournalHealth:
    """The emergency intake journal on this host, as JSON values (no database needed).

    ``segments``, ``records``, ``bytes``, ``oldest_age_s`` (None when empty), ``max_bytes``
    (``JOURNAL_MAX_BYTES``, 0: no limit), ``alarm`` and ``reasons`` (why it alarms, in
    English): more records than ``JOURNAL_ALARM_RECORDS``, a record older than
    ``JOURNAL_ALARM_AGE_SECONDS``, or the journal past 80 % of ``JOURNAL_MAX_BYTES``.
    Reads every segment (the journal is empty while the database is up).
    """
    status = journal_status_read()
    age = (
        round((timezone.now() - status.oldest_received_at).total_seconds(), 1)
        if status.oldest_received_at
        else None
    )
    limit = settings.JOURNAL_MAX_BYTES
    reasons: list[str] = []
    if status.records > settings.JOURNAL_ALARM_RECORDS:
        reasons.append(f"{status.records} deliveries, more than {settings.JOURNAL_ALARM_RECORDS}")
    if age is not None and age > settings.JOURNAL_ALARM_AGE_SECONDS:
        reasons.append(
            f"the oldest is {int(age)} s old, more than {settings.JOURNAL_ALARM_AGE_SECONDS} s"
        )
    if limit and status.bytes > JOURNAL_ALARM_FULL_SHARE * limit:
        reasons.append(f"{status.bytes} bytes of the {limit} it may hold")
    return {
        "segments": status.segments,
        "records": status.records,
        "bytes": status.bytes,
        "oldest_age_s": age,
        "max_bytes": limit,
        "alarm": bool(reasons),
        "reasons": reasons,
    }
