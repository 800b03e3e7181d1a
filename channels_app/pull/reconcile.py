"""Reconciliation: what the channel says exists in a window against what was ingested.

An order counts as ingested when OrderHub has it AND holds a fact from this account for the
milestone the channel's current status maps to (a dropped push of a later step is a gap
too). ERP tables are compared by row version against the inbox. Missing records are fetched
and replayed through the inbox (same dedupe, same processing); the run records the gap.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from channels_app.http import PlatformError, TerminalError, TransientError
from channels_app.models import ChannelAccount, InboundMessage, ReconciliationRun
from channels_app.pull.base import ChannelRecord, PullContext, pullers
from channels_app.pull.services import channel_account_attention_mark, pulled_messages_store
from channels_app.selectors import account_config
from channels_app.services.mapping import status_map_for_kind
from orderhub.models import Order, StatusFact
from traceability.services import ledger_append

logger = logging.getLogger(__name__)
MISSING_IDS_KEPT = 200


def _missing_orders(account: ChannelAccount, records: list[ChannelRecord]) -> list[str]:
    ids = [record.external_id for record in records]
    orders = dict(
        Order.objects.filter(channel=account.code, external_id__in=ids).values_list(
            "external_id", "pk"
        )
    )
    known = set(
        StatusFact.objects.filter(
            order_id__in=orders.values(), system=f"{account.kind}:{account.code}"
        ).values_list("order_id", "milestone")
    )
    status_map = status_map_for_kind(kind=account.kind)
    missing = []
    for record in records:
        order_id = orders.get(record.external_id)
        milestone = status_map.get(record.raw_status) or ""
        if order_id is None or (milestone and (order_id, milestone) not in known):
            missing.append(record.external_id)
    return missing


def _missing_rows(account: ChannelAccount, records: list[ChannelRecord]) -> list[str]:
    keys = [record.external_id for record in records]
    stored = set(
        InboundMessage.objects.filter(account=account, dedupe_key__in=keys).values_list(
            "dedupe_key", flat=True
        )
    )
    return [key for key in keys if key not in stored]


def channel_reconcile(
    *, account_id: int, window_start: datetime, window_end: datetime, replay: bool = True
) -> ReconciliationRun | None:
    """Compare one account's window with the channel, replay what is missing, record the gap.

    Must run outside a transaction (HTTP). Returns None for an account that is not pulled
    or not active. Safe to run twice: replayed records dedupe in the inbox.
    """
    account = ChannelAccount.objects.filter(pk=account_id).first()
    if account is None or not account.enabled or account.needs_attention:
        return None
    if account.kind not in pullers:
        return None
    puller = pullers.get(account.kind)(account_config(account), PullContext(now=timezone.now()))
    run = ReconciliationRun.objects.create(
        account=account,
        window_start=window_start,
        window_end=window_end,
        started_at=timezone.now(),
    )
    try:
        records = puller.channel_list(window_start, window_end)
        if getattr(puller, "reconcile_by", "order") == "inbox":
            missing = _missing_rows(account, records)
        else:
            missing = _missing_orders(account, records)
        replayed = 0
        if missing and replay:
            replayed = pulled_messages_store(account_id=account.pk, messages=puller.fetch(missing))
    except TerminalError as exc:
        channel_account_attention_mark(account_id=account.pk, reason=str(exc))
        run.error, run.finished_at = str(exc)[:2000], timezone.now()
        run.save(update_fields=["error", "finished_at"])
        return run
    except (TransientError, PlatformError) as exc:
        run.error, run.finished_at = str(exc)[:2000], timezone.now()
        run.save(update_fields=["error", "finished_at"])
        return run
    run.channel_count = len(records)
    run.ingested_count = len(records) - len(missing)
    run.missing_count = len(missing)
    run.replayed_count = replayed
    run.missing_ids = missing[:MISSING_IDS_KEPT]
    run.finished_at = timezone.now()
    run.save()
    if missing:
        ledger_append(
            action="channel.gap_found",
            actor="reconciliation",
            subject_type="reconciliation_run",
            subject_id=run.pk,
            source_system=f"{account.kind}:{account.code}",
            after={"missing": len(missing), "replayed": replayed, "channel": len(records)},
            references={
                "window_start": window_start.isoformat(),
                "window_end": window_end.isoformat(),
            },
        )
        logger.warning("channels.reconcile.gap account=%s missing=%s", account.code, len(missing))
    return run
