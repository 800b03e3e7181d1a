"""The facts API's writes: a WMS, ERP or TMS reports status facts (and carrier/tracking).

The API stores first (``facts_intake.facts_accept``: ``received`` receipts); the worker's
``system_facts_apply_received`` applies them in batches, through the same steps as below.
``system_facts_record`` (in-process callers) handles a whole batch in one transaction with a
number of statements that does not grow with the batch: the receipts of the keys are read
once, the orders looked up and locked in id order with one query, the facts applied in memory
through ``apply_fact_locked`` and written by one ``OrderWork.flush()``, the receipts inserted
with one statement. A fact for an order OrderHub does not know yet waits in its receipt and is
applied by ``system_facts_waiting_apply`` in the transaction that creates the order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from channels_app.adapters.base import SYSTEM_KINDS
from channels_app.models import ChannelAccount, ReceiptStatus, SystemFactReceipt, SystemReporter
from channels_app.services.mapping import status_map_for_kind
from orderhub.choices import FactOutcome
from orderhub.domain import StatusFactIn
from orderhub.models import Order, StatusFact, Warehouse
from orderhub.services.facts import apply_fact_locked
from orderhub.services.lifecycle import actor_label
from orderhub.services.tracking import tracking_attach_locked
from orderhub.services.work import OrderWork
from orderhub.sql import pairs_q, rows_update
from traceability.services import LedgerEventIn, ledger_append

BATCH_LIMIT = 500

# What the API calls each fact outcome: "applied" moved the order, "recorded" confirmed it.
OUTCOME_NAMES: dict[str, str] = {
    FactOutcome.ADVANCED: "applied",
    FactOutcome.SKIPPED_AHEAD: "applied",
    FactOutcome.CONFIRMED: "recorded",
    FactOutcome.LATE: "late",
    FactOutcome.CONFLICT: "conflict",
    FactOutcome.UNMAPPED: "unmapped",
}


@dataclass(frozen=True, slots=True)
class SystemFactIn:
    """One validated fact of the facts API. The order is named by ``order_id`` or by
    (``channel``, ``external_id``)."""

    key: str
    raw_status: str
    occurred_at: datetime
    order_id: int | None = None
    channel: str = ""
    external_id: str = ""
    carrier: str = ""
    tracking_number: str = ""


@dataclass(frozen=True, slots=True)
class FactResult:
    """The answer to one fact: HTTP status (201 new, 200 repeat, 202 waiting) and body."""

    status: int
    body: dict[str, Any]


class SystemFactsForbiddenError(Exception):
    """The user may not report for this account, or for one of the orders (403)."""


class SystemFactsInputError(Exception):
    """A fact names something that does not exist (400). ``errors`` is per item:
    ``{index: {field: [message]}}``."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


class _ReceiptRaceError(Exception):
    """Another transaction stored one of the keys first: run again, answering from its row."""


def system_account_get(*, code: str) -> ChannelAccount | None:
    """The system account (wms/erp/tms) with this code, or ``None``."""
    return ChannelAccount.objects.filter(code=code, kind__in=SYSTEM_KINDS).first()


@transaction.atomic
def system_reporter_add(
    *, account_code: str, username: str, create: bool = False, user: Any | None = None
) -> bool:
    """Allow ``username``'s API token to report for the system account ``account_code``.

    With ``create`` a missing user is created as an integration user (no password, no staff
    access: it can only use its API token). Returns False when it already was allowed
    (idempotent). Raises ``ValueError`` for an unknown account or (without ``create``) user.
    Appends a ``channel.reporter_added`` ledger event.
    """
    account = system_account_get(code=account_code)
    if account is None:
        raise ValueError(f"no wms, erp or tms account {account_code!r}")
    reporter = get_user_model().objects.filter(username=username).first()
    if reporter is None and create:
        reporter = get_user_model().objects.create_user(username=username, password=None)
    if reporter is None:
        raise ValueError(f"no user {username!r} (--create makes an integration user)")
    _row, created = SystemReporter.objects.get_or_create(account=account, user=reporter)
    if created:
        ledger_append(
            action="channel.reporter_added",
            actor=actor_label(user, "cli"),
            subject_type="channel_account",
            subject_id=account.pk,
            after={"reporter": username},
        )
    return created


def system_account_check(*, account: ChannelAccount, user: Any) -> int | None:
    """Raise ``SystemFactsForbiddenError`` unless ``user`` may report for ``account``.

    Superusers may report for every system; others must be listed as the account's reporters.
    Returns the id of the warehouse the account speaks for (``None``: every warehouse).
    """
    if not account.enabled:
        raise SystemFactsForbiddenError(f"system {account.code} is disabled")
    if not user.is_superuser and not (
        SystemReporter.objects.filter(account=account, user_id=user.pk).exists()
    ):
        raise SystemFactsForbiddenError(f"{user.get_username()} may not report for {account.code}")
    code = account.options.get("warehouse", "")
    if not code:
        return None
    warehouse_id = Warehouse.objects.filter(code=code).values_list("pk", flat=True).first()
    if warehouse_id is None:
        raise SystemFactsForbiddenError(f"warehouse {code} of {account.code} does not exist")
    return warehouse_id


def system_facts_record(
    *, account: ChannelAccount, items: Sequence[SystemFactIn], user: Any
) -> list[FactResult]:
    """Record a batch of one system's facts; one answer per item, in the items' order.

    All or nothing: a user who may not report for the account, or a WMS fact for another
    warehouse's order, raises ``SystemFactsForbiddenError``; an order id that does not exist
    raises ``SystemFactsInputError``; then nothing is stored. Idempotent by key: a key seen
    before (in an earlier request or earlier in this batch) is answered with its stored body
    and status 200. Runs in one transaction (retried once if a concurrent request stored one
    of the keys first); locks the named orders in id order.
    """
    if len(items) > BATCH_LIMIT:
        raise ValueError(f"a batch holds at most {BATCH_LIMIT} facts")
    try:
        return _record(account=account, items=items, user=user)
    except _ReceiptRaceError:
        return _record(account=account, items=items, user=user)


@transaction.atomic
def _record(
    *, account: ChannelAccount, items: Sequence[SystemFactIn], user: Any
) -> list[FactResult]:
    scope_id = system_account_check(account=account, user=user)
    stored = {
        receipt.key: receipt
        for receipt in SystemFactReceipt.objects.filter(
            account=account, key__in={item.key for item in items}
        )
    }
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.key not in stored:
            first.setdefault(item.key, index)
    new = [items[index] for index in sorted(first.values())]
    orders = _orders_locked(new)
    _check(items, first, orders, scope_id=scope_id, account=account)

    status_map = status_map_for_kind(kind=account.kind) if new else {}
    work = OrderWork()
    work.fact_keys_load(
        [order.pk for order in orders.values()],
        (_fact(account, item, status_map).dedupe_key for item in new),
    )
    known = [item for item in new if _order_of(item, orders) is not None]
    work.fact_ids_reserve(len(known))
    tracked: dict[int, Order] = {}
    receipts: dict[str, SystemFactReceipt] = {}
    duplicates: list[tuple[SystemFactReceipt, int, str]] = []
    now = timezone.now()
    # Oldest first, as the intake applies a message's facts; answered in the request's order.
    for item in sorted(new, key=lambda item: item.occurred_at):
        fact = _fact(account, item, status_map)
        order = _order_of(item, orders)
        receipt = SystemFactReceipt(
            account=account,
            key=item.key,
            scope_warehouse_id=scope_id,
            order_channel=item.channel,
            order_external_id=item.external_id,
            reported_by_id=getattr(user, "pk", None),
        )
        if order is None:
            receipt.status = ReceiptStatus.WAITING
            receipt.response_status = 202
            receipt.response_body = _body(None, None, "waiting", fact.milestone)
            receipt.pending = _pending(fact, item)
        else:
            receipt.order = order
            receipt.response_status = 201
            receipt.applied_at = now
            row = _apply(order, fact, item, user=user, work=work, tracked=tracked)
            if row is None:  # the same statement was stored before, under another key
                duplicates.append((receipt, order.pk, fact.dedupe_key))
            else:
                receipt.fact_id_ref = row.pk
                receipt.response_body = _body(row, order, OUTCOME_NAMES[row.outcome], row.milestone)
                receipt.result = receipt.response_body
        receipts[item.key] = receipt
    if tracked:
        # Courier events may have arrived before the order had this waybill: apply them now.
        tracking_attach_locked(list(tracked.values()), work=work)
    work.flush()
    if duplicates:
        _duplicates_answer(duplicates, orders)
    if receipts:
        try:
            with transaction.atomic():
                SystemFactReceipt.objects.bulk_create(list(receipts.values()))
        except IntegrityError:
            raise _ReceiptRaceError from None

    results = []
    for index, item in enumerate(items):
        if item.key in stored:
            old = stored[item.key]
            results.append(FactResult(status=200, body=old.response_body))
        elif first[item.key] == index:
            receipt = receipts[item.key]
            results.append(FactResult(status=receipt.response_status, body=receipt.response_body))
        else:  # the same key earlier in this batch
            results.append(FactResult(status=200, body=receipts[item.key].response_body))
    return results


Key = tuple[str, str]


def _orders_locked(items: Sequence[SystemFactIn]) -> dict[Any, Order]:
    """The named orders, locked in id order with one query, by id and by (channel, id)."""
    ids = {item.order_id for item in items if item.order_id is not None}
    keys = {(item.channel, item.external_id) for item in items if item.order_id is None}
    if not ids and not keys:
        return {}  # (an empty Q would lock every order)
    condition = Q(pk__in=ids) if ids else Q()
    for channel, external_id in sorted(keys):
        condition |= Q(channel=channel, external_id=external_id)
    found: dict[Any, Order] = {}
    for order in Order.objects.select_for_update().filter(condition).order_by("pk"):
        found[order.pk] = order
        found[(order.channel, order.external_id)] = order
    return found


def _order_of(item: SystemFactIn, orders: dict[Any, Order]) -> Order | None:
    if item.order_id is not None:
        return orders.get(item.order_id)
    return orders.get((item.channel, item.external_id))


def _check(
    items: Sequence[SystemFactIn],
    first: dict[str, int],
    orders: dict[Any, Order],
    *,
    scope_id: int | None,
    account: ChannelAccount,
) -> None:
    """Refuse new facts naming an order id that does not exist (errors by position in
    ``items``) or, for a WMS, another warehouse's order."""
    new = sorted(first.values())
    errors: dict[int, dict[str, list[str]]] = {}
    for index in new:
        item = items[index]
        if item.order_id is not None and item.order_id not in orders:
            errors[index] = {"order": [f"order {item.order_id} does not exist"]}
    if errors:
        raise SystemFactsInputError(errors)
    if scope_id is None:
        return
    for index in new:
        order = _order_of(items[index], orders)
        if order is not None and order.warehouse_id not in (None, scope_id):
            raise SystemFactsForbiddenError(
                f"{account.code} may not report for order {order.pk}: another warehouse's order"
            )


def _fact(account: ChannelAccount, item: SystemFactIn, status_map: dict[str, str]) -> StatusFactIn:
    return StatusFactIn(
        system=account.system,
        raw_status=item.raw_status,
        milestone=status_map.get(item.raw_status) or None,
        occurred_at=item.occurred_at,
        note=f"facts API key {item.key}",
    )


def _pending(fact: StatusFactIn, item: SystemFactIn) -> dict[str, Any]:
    return {
        "system": fact.system,
        "raw_status": fact.raw_status,
        "milestone": fact.milestone,
        "occurred_at": fact.occurred_at.isoformat(),
        "note": fact.note,
        "carrier": item.carrier,
        "tracking_number": item.tracking_number,
    }


def _body(
    row: StatusFact | None, order: Order | None, outcome: str, milestone: str | None
) -> dict[str, Any]:
    return {
        "id": row.pk if row is not None else None,
        "order": order.pk if order is not None else None,
        "outcome": outcome,
        "milestone": milestone or None,
    }


def _apply(
    order: Order,
    fact: StatusFactIn,
    item: SystemFactIn,
    *,
    user: Any,
    work: OrderWork,
    tracked: dict[int, Order],
) -> StatusFact | None:
    """Apply one fact to its locked order, then its carrier and tracking number if given
    (an order whose tracking number changed is added to ``tracked``)."""
    row = apply_fact_locked(order, fact, user=user, work=work)
    if _tracking_set(order, carrier=item.carrier, tracking_number=item.tracking_number,
                     user=user, source=fact.system, work=work):  # fmt: skip
        tracked[order.pk] = order
    return row


def _tracking_set(
    order: Order, *, carrier: str, tracking_number: str, user: Any, source: str, work: OrderWork
) -> bool:
    """Set what the system says about the parcel (only the values it gives), with the
    ``order.tracking_set`` ledger event of the shared contract. True when the tracking number
    changed (the caller then attaches the waybill's stored courier events).

    (The batch cannot call ``order_tracking_set``, which takes its own lock per order; this
    writes the same event through the batch's ``OrderWork``.)
    """
    wanted = {"carrier": carrier, "tracking_number": tracking_number}
    changed = [name for name, value in wanted.items() if value and getattr(order, name) != value]
    if not changed:
        return False
    before = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    for name in changed:
        setattr(order, name, wanted[name])
    reason = f"tracking from {source}"
    work.order_changed(order, changed, user=user, reason=reason)
    work.ledger.append(
        LedgerEventIn(
            action="order.tracking_set",
            actor=actor_label(user, source),
            order_id=order.pk,
            subject_type="order",
            subject_id=order.pk,
            source_system=source,
            before=before,
            after={"carrier": order.carrier, "tracking_number": order.tracking_number},
            references={"reason": reason},
        )
    )
    return "tracking_number" in changed


def _duplicates_answer(
    duplicates: Sequence[tuple[SystemFactReceipt, int, str]], orders: dict[Any, Order]
) -> None:
    """Answer facts already stored under another key with the stored fact (one query)."""
    condition = Q()
    for _receipt, order_id, dedupe_key in duplicates:
        condition |= Q(order_id=order_id, dedupe_key=dedupe_key)
    rows = {(row.order_id, row.dedupe_key): row for row in StatusFact.objects.filter(condition)}
    for receipt, order_id, dedupe_key in duplicates:
        row = rows[(order_id, dedupe_key)]
        receipt.fact_id_ref = row.pk
        receipt.response_status = 200
        receipt.response_body = _body(row, orders[order_id], "duplicate", row.milestone)
        receipt.result = receipt.response_body


def system_facts_waiting_apply(orders: Sequence[Order], work: OrderWork) -> None:
    """Apply the facts that waited for these just-created orders, in their transaction.

    Called by ``orders_upsert_locked`` with the orders locked. Receipts are locked (id order)
    and marked ``applied`` (or ``refused`` for a WMS of another warehouse), so each waiting
    fact is applied exactly once; their stored answers then name the fact and the order.
    Two statements (read, update) plus what ``work`` writes, whatever the number of orders.
    """
    by_key = {(order.channel, order.external_id): order for order in orders}
    condition = pairs_q("order_channel", "order_external_id", by_key)
    receipts = list(
        SystemFactReceipt.objects.select_for_update()
        .filter(condition, status=ReceiptStatus.WAITING)
        .order_by("id")
    )
    if not receipts:
        return
    work.fact_ids_reserve(len(receipts))
    now = timezone.now()
    tracked: dict[int, Order] = {}
    for receipt in sorted(receipts, key=lambda r: (r.pending["occurred_at"], r.pk)):
        order = by_key[(receipt.order_channel, receipt.order_external_id)]
        receipt.order = order
        receipt.applied_at = now
        if receipt.scope_warehouse_id is not None and order.warehouse_id not in (
            None,
            receipt.scope_warehouse_id,
        ):
            receipt.status = ReceiptStatus.REFUSED
            receipt.result = _body(None, order, "refused", receipt.pending["milestone"])
            continue
        pending = receipt.pending
        fact = StatusFactIn(
            system=pending["system"],
            raw_status=pending["raw_status"],
            milestone=pending["milestone"],
            occurred_at=datetime.fromisoformat(pending["occurred_at"]),
            note=pending["note"],
        )
        row = apply_fact_locked(order, fact, user=None, work=work)
        if _tracking_set(order, carrier=pending["carrier"],
                         tracking_number=pending["tracking_number"],
                         user=None, source=fact.system, work=work):  # fmt: skip
            tracked[order.pk] = order
        receipt.status = ReceiptStatus.APPLIED
        if row is None:
            receipt.result = _body(None, order, "duplicate", fact.milestone)
        else:
            receipt.fact_id_ref = row.pk
            receipt.result = _body(row, order, OUTCOME_NAMES[row.outcome], row.milestone)
    if tracked:
        tracking_attach_locked(list(tracked.values()), work=work)
    rows_update(receipts, ["order", "applied_at", "status", "result", "fact_id_ref"])


def system_facts_apply_received(*, limit: int = BATCH_LIMIT) -> int:
    """Apply up to ``limit`` facts stored by the facts edge (oldest receipts first); how many.

    One transaction: the receipts are claimed with ``SKIP LOCKED`` (runs in parallel take
    different receipts), their orders locked in id order with one query, the facts applied
    in memory through ``apply_fact_locked`` (hooks, ledger events, forward only) and written
    by one ``OrderWork.flush()``, the receipts updated with one statement. A statement count
    that does not grow with the batch. Per receipt: ``done`` with its ``result``, ``waiting``
    when OrderHub does not know the order yet (applied when it arrives), ``refused`` when the
    order now belongs to another warehouse than the reporting WMS's.
    """
    with transaction.atomic():
        receipts = list(
            SystemFactReceipt.objects.select_for_update(skip_locked=True)
            .filter(status=ReceiptStatus.RECEIVED)
            .order_by("id")[:limit]
        )
        if receipts:
            _received_apply(receipts)
    return len(receipts)


def _received_apply(receipts: list[SystemFactReceipt]) -> None:
    accounts = {
        account.pk: account
        for account in ChannelAccount.objects.filter(pk__in={r.account_id for r in receipts})
    }
    users = {
        user.pk: user
        for user in get_user_model().objects.filter(
            pk__in={r.reported_by_id for r in receipts if r.reported_by_id is not None}
        )
    }
    items = {receipt.pk: _received_item(receipt) for receipt in receipts}
    orders = _orders_locked(list(items.values()))
    maps: dict[str, dict[str, str]] = {}
    for account in accounts.values():
        if account.kind not in maps:
            maps[account.kind] = status_map_for_kind(kind=account.kind)
    facts = {
        receipt.pk: _fact(
            accounts[receipt.account_id], items[receipt.pk], maps[accounts[receipt.account_id].kind]
        )
        for receipt in receipts
    }
    work = OrderWork()
    work.fact_keys_load(
        {order.pk for order in orders.values()}, (fact.dedupe_key for fact in facts.values())
    )
    work.fact_ids_reserve(sum(1 for item in items.values() if _order_of(item, orders)))
    tracked: dict[int, Order] = {}
    duplicates: list[tuple[SystemFactReceipt, int, str]] = []
    now = timezone.now()
    for receipt in sorted(receipts, key=lambda r: (items[r.pk].occurred_at, r.pk)):
        item, fact = items[receipt.pk], facts[receipt.pk]
        order = _order_of(item, orders)
        receipt.applied_at = now
        if order is None and not receipt.order_channel:  # named by id, deleted since
            receipt.status = ReceiptStatus.REFUSED
            receipt.result = _body(None, None, "refused", fact.milestone)
            continue
        if order is None:
            # Kept for its order, in the normalized form the order's creation applies.
            receipt.status = ReceiptStatus.WAITING
            receipt.applied_at = None
            receipt.pending = _pending(fact, item)
            receipt.result = _body(None, None, "waiting", fact.milestone)
            continue
        receipt.order = order
        if receipt.scope_warehouse_id is not None and order.warehouse_id not in (
            None,
            receipt.scope_warehouse_id,
        ):
            receipt.status = ReceiptStatus.REFUSED
            receipt.result = _body(None, order, "refused", fact.milestone)
            continue
        receipt.status = ReceiptStatus.DONE
        user = users.get(receipt.reported_by_id) if receipt.reported_by_id else None
        row = _apply(order, fact, item, user=user, work=work, tracked=tracked)
        if row is None:  # the same statement was stored before, under another key
            duplicates.append((receipt, order.pk, fact.dedupe_key))
        else:
            receipt.fact_id_ref = row.pk
            receipt.result = _body(row, order, OUTCOME_NAMES[row.outcome], row.milestone)
    if tracked:
        tracking_attach_locked(list(tracked.values()), work=work)
    work.flush()
    if duplicates:
        rows = _duplicates_rows(duplicates)
        for receipt, order_id, dedupe_key in duplicates:
            row = rows[(order_id, dedupe_key)]
            receipt.fact_id_ref = row.pk
            receipt.result = _body(row, receipt.order, "duplicate", row.milestone)
    rows_update(receipts, ["status", "order", "fact_id_ref", "pending", "result", "applied_at"])


def _received_item(receipt: SystemFactReceipt) -> SystemFactIn:
    """The fact a received receipt holds (as the edge validated it)."""
    pending = receipt.pending
    return SystemFactIn(
        key=receipt.key,
        raw_status=pending["raw_status"],
        occurred_at=datetime.fromisoformat(pending["occurred_at"]),
        order_id=receipt.order_id if not receipt.order_channel else None,
        channel=receipt.order_channel,
        external_id=receipt.order_external_id,
        carrier=pending.get("carrier", ""),
        tracking_number=pending.get("tracking_number", ""),
    )


def _duplicates_rows(
    duplicates: Sequence[tuple[SystemFactReceipt, int, str]],
) -> dict[tuple[int, str], StatusFact]:
    condition = Q()
    for _receipt, order_id, dedupe_key in duplicates:
        condition |= Q(order_id=order_id, dedupe_key=dedupe_key)
    return {(row.order_id, row.dedupe_key): row for row in StatusFact.objects.filter(condition)}


def system_facts_waiting_sweep(*, limit: int = BATCH_LIMIT) -> int:
    """Apply waiting facts whose order exists by now; how many orders it took.

    ``system_facts_waiting_apply`` runs when an order is created, but a fact stored while the
    order's creation was still uncommitted is marked ``waiting`` after that creation looked:
    this catches it. Orders are locked before their receipts, as the creation does.
    """
    pairs = list(
        SystemFactReceipt.objects.filter(status=ReceiptStatus.WAITING)
        .filter(
            Exists(
                Order.objects.filter(
                    channel=OuterRef("order_channel"), external_id=OuterRef("order_external_id")
                )
            )
        )
        .order_by("order_channel", "order_external_id")
        .values_list("order_channel", "order_external_id")
        .distinct()[:limit]
    )
    if not pairs:
        return 0
    condition = Q()
    for channel, external_id in sorted(pairs):
        condition |= Q(channel=channel, external_id=external_id)
    with transaction.atomic():
        orders = list(Order.objects.select_for_update().filter(condition).order_by("pk"))
        work = OrderWork()
        system_facts_waiting_apply(orders, work)
        work.flush()
    return len(orders)


def system_facts_drain(*, limit: int, budget_seconds: float) -> int:
    """Apply received facts in batches until none is left or the time budget is spent, then
    sweep the waiting ones whose order arrived; how many receipts were applied."""
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        handled = system_facts_apply_received(limit=limit)
        total += handled
        if handled < limit or time.monotonic() >= deadline:
            break
    system_facts_waiting_sweep(limit=limit)
    return total
