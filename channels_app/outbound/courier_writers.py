"""Courier subscriptions: a waybill the hub learns is subscribed at Kuaidi100, once.

When an order reaches ``waybill_issued`` (or later, before delivery) with a carrier and a
tracking number, and an enabled ``kuaidi100`` account with a ``key`` exists, the hooks write
one ``OutboxEntry`` (action ``subscribe``, idempotency key per account and waybill) in the
flush's transaction; the relay sends it like any write-back (shared HTTP client, OutboundCall
rows, transient errors retried) and Kuaidi100's "already subscribed" (501) counts as done.

The writer is ``kuaidi100_subscribe_write`` (``channels_app.adapters.kuaidi100.client``);
``ChannelsConfig.ready()`` adds the hooks here as ``channels.courier_subscribe`` to
``transition_hooks`` and ``fact_hooks``; importing this module registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.utils import timezone

from channels_app.models import ChannelAccount, OutboxEntry
from channels_app.outbound.relay import account_system
from channels_app.outbound.tasks import outbox_relay_task
from channels_app.selectors import account_config
from orderhub.choices import Milestone
from orderhub.effects import task_on_commit
from orderhub.hooks import FactEvent, OrderSnapshot, TransitionEvent
from traceability.services import LedgerEventIn, ledger_append_many

KIND = "kuaidi100"
ACTION_SUBSCRIBE = "subscribe"
# Orders whose waybill is worth subscribing: issued and not delivered (or cancelled) yet.
SUBSCRIBABLE = frozenset({Milestone.WAYBILL_ISSUED, Milestone.HANDED_OVER, Milestone.COLLECTED})


def subscribe_key(account_code: str, tracking_number: str) -> str:
    return f"{account_code}:{ACTION_SUBSCRIBE}:{tracking_number}"


def _subscriber() -> ChannelAccount | None:
    """The first enabled, unflagged kuaidi100 account that has a key (and write-back not
    turned off with the option ``writeback=off``)."""
    for account in ChannelAccount.objects.filter(
        kind=KIND, enabled=True, needs_attention=False
    ).order_by("pk"):
        if (account.options or {}).get("writeback") == "off":
            continue
        if account_config(account).secrets.get("key"):
            return account
    return None


def courier_subscriptions_write(orders: Iterable[OrderSnapshot], *, source: str) -> list[int]:
    """Write the subscription entries of the waybills of ``orders`` not subscribed before;
    the relay is queued on commit. Returns the new entry ids.

    Precondition: inside the orders' transaction with them locked (no I/O). Only orders with
    a carrier and tracking number whose status is in ``SUBSCRIBABLE`` count. At most four
    statements (account, stored keys, insert, ledger) however many orders; one when none.
    """
    waybills: dict[str, OrderSnapshot] = {}
    for order in orders:
        if order.status in SUBSCRIBABLE and order.carrier and order.tracking_number:
            waybills.setdefault(order.tracking_number, order)
    if not waybills:
        return []
    account = _subscriber()
    if account is None:
        return []
    keys = {subscribe_key(account.code, number): order for number, order in waybills.items()}
    stored = set(
        OutboxEntry.objects.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", flat=True
        )
    )
    now = timezone.now()
    new = [
        OutboxEntry(
            idempotency_key=key,
            account=account,
            order_id=order.id,
            action=ACTION_SUBSCRIBE,
            milestone=Milestone.WAYBILL_ISSUED,
            payload={
                "channel": order.channel,
                "external_id": order.external_id,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
            },
            next_attempt_at=now,
        )
        for key, order in sorted(keys.items())
        if key not in stored
    ]
    if not new:
        return []
    OutboxEntry.objects.bulk_create(new)
    system = account_system(account)
    ledger_append_many(
        events=[
            LedgerEventIn(
                action="outbox.written",
                actor=source,
                order_id=entry.order_id,
                subject_type="outbox_entry",
                subject_id=entry.pk,
                source_system=system,
                after={"action": ACTION_SUBSCRIBE, "milestone": entry.milestone},
                references={"idempotency_key": entry.idempotency_key, "caused_by": source},
            )
            for entry in new
        ]
    )
    for entry in new:
        task_on_commit(outbox_relay_task, entry_id=entry.pk)
    return [entry.pk for entry in new]


def subscribe_transition_hook(transitions: Sequence[TransitionEvent]) -> None:
    """An order reached a subscribable status with its waybill."""
    relevant = [t for t in transitions if t.after in SUBSCRIBABLE]
    if relevant:
        courier_subscriptions_write([t.order for t in relevant], source=relevant[0].source)


def subscribe_fact_hook(facts: Sequence[FactEvent]) -> None:
    """A fact left an issued order with a tracking number it may not have had before."""
    if facts:
        courier_subscriptions_write([f.order for f in facts], source=facts[0].system)
