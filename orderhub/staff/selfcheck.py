"""The ten-point order-health self-check, evaluated from live data. Reads only.

Each check measures something and says what it measured (``value``) and the rows or files it
measured it on (``evidence``); ``passed`` follows the field's threshold. The score is the
number passed, out of 10; below 6 the operation needs action. Every check runs a fixed number
of queries (bounded samples: the latest rows by primary key, never a whole-table scan).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.urls import NoReverseMatch, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from channels_app import journal
from channels_app.models import (
    ChannelAccount,
    InboundMessage,
    OutboxStatus,
    PollState,
    SystemFactReceipt,
)
from channels_app.selectors import JOURNAL_ALARM_FULL_SHARE
from health.choices import AnomalyKind, Resolution
from health.models import Anomaly, RuleSetting
from orderhub.choices import FactOutcome
from orderhub.models import Order, StatusFact
from traceability import checkpoints
from traceability.models import LedgerSeal
from traceability.selectors import order_trace

PASS_MARK = 6  # below this many passed checks, the operation needs action
DELIVERY_MAX_AGE = timedelta(hours=1)  # an enabled account silent longer is not delivering
DETECTION_MAX_SECONDS = 300.0
MANUAL_MAX_SHARE = 0.05
TRACE_MAX_SECONDS = 30.0
SYNC_MAX_SECONDS = 90.0
LOOKUP_MIN_SHARE = 0.95
AUDIT_MAX_AGE = timedelta(hours=24)
RECENT = timedelta(days=7)
SAMPLE_ANOMALIES = 1000
SAMPLE_FACTS = 5000
SAMPLE_WRITEBACKS = 1000
SAMPLE_ORDERS = 1000
TRACE_SAMPLE = 5


@dataclass(frozen=True, slots=True)
class CheckItem:
    key: str
    title: str
    passed: bool
    value: str
    evidence: str


@dataclass(frozen=True, slots=True)
class SelfCheck:
    score: int
    items: tuple[CheckItem, ...]
    checked_at: datetime

    @property
    def needs_action(self) -> bool:
        return self.score < PASS_MARK

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score, "items": [asdict(item) for item in self.items]}


TITLES: dict[str, Any] = {
    "channels_delivering": gettext_lazy("Every channel in use is connected and delivering"),
    "status_vocabulary": gettext_lazy("Status vocabulary unified (no unmapped statuses)"),
    "detection_time": gettext_lazy("Anomalies detected within 5 minutes on average"),
    "manual_intervention": gettext_lazy("Manual intervention below 5%"),
    "trace_time": gettext_lazy("Any order traced in 30 seconds or less"),
    "sync_delay": gettext_lazy("Cross-system sync delay 90 seconds or less"),
    "customer_lookup": gettext_lazy("Customers can look up their order themselves"),
    "rules_editable": gettext_lazy("Rules editable by business users"),
    "audit_trail": gettext_lazy("Audit trail tamper-evident and verified recently"),
    "emergency_intake": gettext_lazy("Emergency intake path ready"),
}


def _separator() -> str:
    """Between the parts of an evidence text, in the page's language."""
    return pgettext("list separator", "; ")


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return pgettext("age", "never")
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return _("%(n)d s ago") % {"n": seconds}
    if seconds < 7200:
        return _("%(n)d min ago") % {"n": seconds // 60}
    return _("%(n)d h ago") % {"n": seconds // 3600}


def check_channels_delivering(now: datetime) -> tuple[bool, str, str]:
    """Per enabled account: the newest of its last inbound message, its last fact through the
    facts API and its last finished poll. Each must be within ``DELIVERY_MAX_AGE`` and the
    account must not be marked as needing attention."""
    last_message = InboundMessage.objects.filter(account=OuterRef("pk")).order_by("-id")
    last_receipt = SystemFactReceipt.objects.filter(account=OuterRef("pk")).order_by("-id")
    last_poll = PollState.objects.filter(account=OuterRef("pk"))
    accounts = list(
        ChannelAccount.objects.filter(enabled=True)
        .annotate(
            last_message=Subquery(last_message.values("received_at")[:1]),
            last_receipt=Subquery(last_receipt.values("received_at")[:1]),
            last_poll=Subquery(last_poll.values("last_finished_at")[:1]),
        )
        .order_by("code")
    )
    if not accounts:
        return False, _("no enabled channel account"), _("channel accounts: none enabled")
    good = 0
    evidence = []
    for account in accounts:
        times = [t for t in (account.last_message, account.last_receipt, account.last_poll) if t]
        last = max(times) if times else None
        fresh = last is not None and now - last <= DELIVERY_MAX_AGE
        ok = fresh and not account.needs_attention
        good += ok
        note = _("needs attention") if account.needs_attention else ""
        evidence.append(
            f"{account.code}: {_('last delivery')} {_age(now, last)}"
            + (f" ({note})" if note else "")
        )
    value = _("%(good)d of %(total)d delivering") % {"good": good, "total": len(accounts)}
    return good == len(accounts), value, _separator().join(evidence)


def check_status_vocabulary(now: datetime) -> tuple[bool, str, str]:
    unmapped = list(
        StatusFact.objects.filter(outcome=FactOutcome.UNMAPPED)
        .values_list("system", "raw_status")
        .distinct()
        .order_by("system", "raw_status")[:50]
    )
    open_anomalies = Anomaly.objects.filter(
        kind=AnomalyKind.UNMAPPED_STATUS, resolved_at__isnull=True
    ).count()
    value = _("%(statuses)d unmapped statuses, %(open)d open unmapped-status anomalies") % {
        "statuses": len(unmapped),
        "open": open_anomalies,
    }
    evidence = ", ".join(f"{system} “{raw}”" for system, raw in unmapped[:10]) or _(
        "every stored status has a mapping"
    )
    return not unmapped and not open_anomalies, value, evidence


def check_detection_time(now: datetime) -> tuple[bool, str, str]:
    """Mean of opened_at - evidence_at over the anomalies opened in the last 7 days."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), avg(extract(epoch FROM opened_at - evidence_at)) FROM ("
            " SELECT opened_at, evidence_at FROM health_anomaly WHERE opened_at >= %s"
            " ORDER BY opened_at DESC LIMIT %s) recent",
            [now - RECENT, SAMPLE_ANOMALIES],
        )
        count, mean = cursor.fetchone()
    if not count:
        return False, _("nothing to measure"), _("no anomaly opened in the last 7 days")
    mean = max(0.0, float(mean))
    value = _("%(mean).1f s on average") % {"mean": mean}
    evidence = _("%(count)d anomalies opened in the last 7 days") % {"count": count}
    return mean <= DETECTION_MAX_SECONDS, value, evidence


def check_manual_intervention(now: datetime) -> tuple[bool, str, str]:
    resolved = list(
        Anomaly.objects.filter(resolved_at__gte=now - RECENT)
        .order_by("-resolved_at")
        .values_list("resolution", flat=True)[:SAMPLE_ANOMALIES]
    )
    manual = sum(1 for resolution in resolved if resolution == Resolution.MANUAL)
    share = manual / len(resolved) if resolved else 0.0
    value = _("%(share).1f%% resolved by a person") % {"share": share * 100}
    evidence = _("%(manual)d of %(total)d anomalies resolved in the last 7 days") % {
        "manual": manual,
        "total": len(resolved),
    }
    return share < MANUAL_MAX_SHARE, value, evidence


def check_trace_time(now: datetime) -> tuple[bool, str, str]:
    """Builds the full trace of the latest orders, timed now."""
    orders = list(Order.objects.order_by("-id")[:TRACE_SAMPLE])
    if not orders:
        return False, _("nothing to measure"), _("no order in the database")
    timings = []
    for order in orders:
        started = time.perf_counter()
        trace = order_trace(order=order)
        timings.append((time.perf_counter() - started, order.pk, len(trace.entries)))
    slowest = max(seconds for seconds, _pk, _n in timings)
    value = _("slowest %(seconds).3f s") % {"seconds": slowest}
    evidence = _separator().join(
        _("order #%(id)s: %(entries)d entries in %(seconds).3f s")
        % {"id": pk, "entries": entries, "seconds": seconds}
        for seconds, pk, entries in timings
    )
    return slowest <= TRACE_MAX_SECONDS, value, evidence


def check_sync_delay(now: datetime) -> tuple[bool, str, str]:
    """95th percentile of received_at - occurred_at over the latest facts received (seed
    facts excluded: they stand for systems that reported nothing) and of acknowledged_at -
    created_at over the latest acknowledged write-backs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) FROM ("
            " SELECT extract(epoch FROM received_at - occurred_at) AS lag"
            " FROM orderhub_statusfact WHERE system NOT LIKE 'seed:%%' AND received_at >= %s"
            " ORDER BY id DESC LIMIT %s) recent",
            [now - RECENT, SAMPLE_FACTS],
        )
        facts, facts_p95 = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) FROM ("
            " SELECT extract(epoch FROM acknowledged_at - created_at) AS lag"
            " FROM channels_app_outboxentry WHERE status = %s AND acknowledged_at >= %s"
            " ORDER BY id DESC LIMIT %s) recent",
            [OutboxStatus.ACKNOWLEDGED, now - RECENT, SAMPLE_WRITEBACKS],
        )
        writebacks, writebacks_p95 = cursor.fetchone()
    if not facts and not writebacks:
        return False, _("nothing to measure"), _("no fact or write-back in the last 7 days")
    worst = max(max(0.0, float(p95)) for p95 in (facts_p95, writebacks_p95) if p95 is not None)
    value = _("p95 %(seconds).1f s") % {"seconds": worst}
    parts = []
    if facts:
        parts.append(
            _("facts received: p95 %(p95).1f s over %(count)d")
            % {"p95": max(0.0, float(facts_p95)), "count": facts}
        )
    if writebacks:
        parts.append(
            _("write-backs acknowledged: p95 %(p95).1f s over %(count)d")
            % {"p95": max(0.0, float(writebacks_p95)), "count": writebacks}
        )
    return worst <= SYNC_MAX_SECONDS, value, _separator().join(parts)


def check_customer_lookup(now: datetime) -> tuple[bool, str, str]:
    """The public look-up page answers at its route, and the latest orders carry the phone
    tail a customer looks an order up with."""
    try:
        path = reverse("public:lookup")
        resolve(path)
    except NoReverseMatch:
        return False, _("no look-up page"), _("the public look-up route is not installed")
    tails = list(Order.objects.order_by("-id").values_list("phone_tail", flat=True)[:SAMPLE_ORDERS])
    if not tails:
        return False, _("nothing to measure"), _("no order in the database")
    findable = sum(1 for tail in tails if len(tail) == 4 and tail.isdigit())
    share = findable / len(tails)
    value = _("%(share).1f%% of orders can be looked up") % {"share": share * 100}
    evidence = _("%(path)s; %(findable)d of the latest %(total)d orders have a phone tail") % {
        "path": path,
        "findable": findable,
        "total": len(tails),
    }
    return share >= LOOKUP_MIN_SHARE, value, evidence


def check_rules_editable(now: datetime) -> tuple[bool, str, str]:
    """The rule settings are in the admin and a group of people who are not superusers holds
    the permission to change them (with at least one active staff member in it)."""
    registered = admin.site.is_registered(RuleSetting)
    permission = Permission.objects.filter(
        content_type__app_label="health", codename="change_rulesetting"
    ).first()
    groups = _groups_with(permission) if permission is not None else []
    editors = sum(members for _name, members in groups)
    value = _("%(groups)d group(s), %(people)d business user(s) may edit rules") % {
        "groups": len(groups),
        "people": editors,
    }
    evidence = _separator().join(f"{name}: {members}" for name, members in groups) or _(
        "no group holds the permission to change rule settings"
    )
    if not registered:
        evidence = _("rule settings are not in the admin")
    return registered and editors > 0, value, evidence


def _groups_with(permission: Permission) -> list[tuple[str, int]]:
    rows = (
        Group.objects.filter(permissions=permission)
        .annotate(
            members=Count(
                "user",
                filter=Q(user__is_active=True, user__is_staff=True, user__is_superuser=False),
                distinct=True,
            )
        )
        .order_by("name")
        .values_list("name", "members")
    )
    return [(name, members) for name, members in rows]


def check_audit_trail(now: datetime) -> tuple[bool, str, str]:
    """The newest signed checkpoint: its Ed25519 signature checks out with the ledger's public
    key, the chain's seal at its seq still carries the hash it names, and it is recent."""
    try:
        newest = checkpoints.checkpoint_newest()
    except ValueError as exc:
        return False, _("checkpoint unreadable"), str(exc)
    if newest is None:
        return False, _("no signed checkpoint"), _("the ledger has never been checkpointed")
    try:
        key = checkpoints.public_key()
    except Exception as exc:
        return False, _("no public key"), str(exc)
    signed = checkpoints.checkpoint_signature_valid(newest, key)
    stored = LedgerSeal.objects.filter(seq=newest.seq).values_list("hash", flat=True).first()
    head_matches = stored == newest.head_hash
    signed_at = datetime.fromisoformat(newest.signed_at)
    if timezone.is_naive(signed_at):
        signed_at = signed_at.replace(tzinfo=UTC)
    recent = now - signed_at <= AUDIT_MAX_AGE
    value = _("checkpoint #%(seq)d signed %(age)s") % {
        "seq": newest.seq,
        "age": _age(now, signed_at),
    }
    evidence = _separator().join(
        (
            _("signature valid") if signed else _("signature INVALID"),
            _("chain head matches") if head_matches else _("chain head DIFFERS"),
            _("key %(key)s") % {"key": newest.key_id},
        )
    )
    return signed and head_matches and recent, value, evidence


def check_emergency_intake(now: datetime) -> tuple[bool, str, str]:
    """The journal folder can be written, and what it holds is within its alarm limits."""
    directory = journal.journal_dir()
    target = directory if directory.exists() else directory.parent
    writable = target.is_dir() and os.access(target, os.W_OK | os.X_OK)
    status = journal.journal_status_read(directory)
    max_records = settings.JOURNAL_ALARM_RECORDS
    max_age = settings.JOURNAL_ALARM_AGE_SECONDS
    oldest_age = (
        (now - status.oldest_received_at).total_seconds()
        if status.oldest_received_at is not None
        else 0.0
    )
    # As the journal's own alarm: past its share of JOURNAL_MAX_BYTES it is not ready either.
    limit = settings.JOURNAL_MAX_BYTES
    full = bool(limit) and status.bytes > JOURNAL_ALARM_FULL_SHARE * limit
    within = status.records <= max_records and oldest_age <= max_age and not full
    value = _("%(records)d record(s) waiting, oldest %(age)d s") % {
        "records": status.records,
        "age": int(oldest_age),
    }
    evidence = _separator().join(
        (
            _("journal folder writable") if writable else _("journal folder NOT writable"),
            _("limits %(records)d records, %(age)d s") % {"records": max_records, "age": max_age},
            *(
                [_("%(bytes)d of %(limit)d bytes used") % {"bytes": status.bytes, "limit": limit}]
                if full
                else []
            ),
        )
    )
    return writable and within, value, evidence


CHECKS: tuple[tuple[str, Callable[[datetime], tuple[bool, str, str]]], ...] = (
    ("channels_delivering", check_channels_delivering),
    ("status_vocabulary", check_status_vocabulary),
    ("detection_time", check_detection_time),
    ("manual_intervention", check_manual_intervention),
    ("trace_time", check_trace_time),
    ("sync_delay", check_sync_delay),
    ("customer_lookup", check_customer_lookup),
    ("rules_editable", check_rules_editable),
    ("audit_trail", check_audit_trail),
    ("emergency_intake", check_emergency_intake),
)


def self_check_run(*, now: datetime | None = None) -> SelfCheck:
    """All ten checks, in the field's order."""
    now = now or timezone.now()
    items = []
    for key, check in CHECKS:
        passed, value, evidence = check(now)
        items.append(
            CheckItem(
                key=key, title=str(TITLES[key]), passed=passed, value=value, evidence=evidence
            )
        )
    return SelfCheck(score=sum(item.passed for item in items), items=tuple(items), checked_at=now)
