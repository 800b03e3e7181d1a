"""The consistency engine and every write of the health app.

The engine (``anomalies_evaluate_locked``) runs the enabled rules over a set of orders whose
rows the caller has locked, opens an anomaly for each finding (idempotent: ``INSERT … ON
CONFLICT DO NOTHING`` against the one-open-per-subject index), resolves the open anomalies
no rule finds any more (resolution ``auto``), appends ``anomaly.opened`` /
``anomaly.resolved`` ledger events and stores each order's next check for the sweep. Its
statement count is fixed whatever the number of orders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb
from psycopg.types.numeric import Int8

from health.choices import Resolution
from health.models import Anomaly, CategoryChapters, OrderCheck, RuleOverride, RuleSetting
from health.repair_tasks import anomaly_repair_task
from health.repairs import repairs
from health.rules.base import Finding, OrderView, rules
from health.selectors import order_views_build, rule_config_load
from orderhub.effects import task_on_commit
from orderhub.hooks import FactEvent, TransitionEvent
from orderhub.models import Order
from orderhub.registry import RegistryError
from orderhub.sql import prepared_cursor
from traceability.services import LedgerEventIn, ledger_append, ledger_append_many

logger = logging.getLogger(__name__)

ENGINE_ACTOR = "orderhub:health"
AUTO_NOTE = "new evidence shows the gap is closed"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation did: ids of the anomalies it opened and resolved."""

    opened: tuple[int, ...]
    resolved: tuple[int, ...]


def order_subject(order_id: int) -> str:
    return f"order:{order_id}"


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def anomalies_evaluate_locked(*, order_ids: Iterable[int], now: datetime) -> Evaluation:
    """Evaluate every enabled rule for ``order_ids`` at ``now``.

    Precondition: the caller's transaction holds these orders' row locks (the fact hook, the
    sweep), so no two evaluations of one order interleave. Settings are read afresh, so an
    edit applies to the next evaluation.
    """
    order_ids = set(order_ids)
    if not order_ids:
        return Evaluation((), ())
    config = rule_config_load()
    enabled = [(kind, entry.function) for kind, entry in rules.items() if config.is_enabled(kind)]
    if not enabled:
        # Every rule switched off (the admin's switch): no order needs reading. Stored next
        # checks stay as they are, for when a rule is switched on again.
        return Evaluation((), ())
    views = order_views_build(order_ids)
    if not views:
        return Evaluation((), ())
    with prepared_cursor() as cursor:
        cursor.execute(_OPEN_OF_ORDERS, [[Int8(pk) for pk in sorted(views)]])
        open_ids: dict[tuple[str, str], int] = {
            (kind, key): pk for pk, kind, key in cursor.fetchall()
        }
    to_open: list[tuple[OrderView, str, Finding]] = []
    to_resolve: list[int] = []
    next_checks: dict[int, datetime | None] = {}
    for order_id, view in sorted(views.items()):
        subject = order_subject(order_id)
        next_check: datetime | None = None
        for kind, function in enabled:
            try:
                verdict = function(view, config.params_for(kind, view.channel), now)
            except OverflowError:
                # A stored time at the end of the calendar (year 9999): this rule cannot
                # reason about it; the order's other rules and the transaction go on.
                logger.warning("health.rule_overflow kind=%s order=%s", kind, order_id)
                continue
            if verdict is None:
                if open_ids and (kind, subject) in open_ids:
                    to_resolve.append(open_ids[(kind, subject)])
                continue
            if isinstance(verdict, Finding):
                if (kind, subject) not in open_ids:
                    to_open.append((view, kind, verdict))
                next_check = _earliest(next_check, verdict.next_check_at)
                continue
            if (kind, subject) in open_ids:
                to_resolve.append(open_ids[(kind, subject)])
            next_check = _earliest(next_check, verdict.next_check_at)
        next_checks[order_id] = next_check
    events = _anomalies_open(to_open, now=now) + _anomalies_resolve(to_resolve, now=now)
    ledger_append_many(events=[event for event, _pk in events])
    _checks_store(next_checks)
    for event, pk in events if settings.HEALTH_AUTO_REPAIR else ():
        if event.action == "anomaly.opened" and (event.after or {}).get("kind") in repairs:
            # The repair runs after this commit, outside the order locks (it calls out).
            task_on_commit(anomaly_repair_task, anomaly_id=pk)
    return Evaluation(
        opened=tuple(pk for event, pk in events if event.action == "anomaly.opened"),
        resolved=tuple(pk for event, pk in events if event.action == "anomaly.resolved"),
    )


_OPEN_OF_ORDERS = (
    f"SELECT id, kind, subject_key FROM {Anomaly._meta.db_table} "  # noqa: S608 - model constant
    "WHERE order_id = ANY(%s) AND resolved_at IS NULL"
)

_OPEN_COLUMNS = (
    "kind", "order_id", "subject_type", "subject_key", "opened_at", "evidence_at", "deadline",
    "resolution", "resolved_note", "evidence", "actions", "resolved_by_action",
)  # fmt: skip


def _anomalies_open(
    findings: Sequence[tuple[OrderView, str, Finding]], *, now: datetime
) -> list[tuple[LedgerEventIn, int]]:
    """One INSERT for all findings; an anomaly already open (a concurrent opener) is skipped."""
    if not findings:
        return []
    params: list[Any] = []
    for view, kind, finding in findings:
        params += [
            kind, view.id, "order", order_subject(view.id), now, finding.evidence_at,
            finding.deadline, "", "", Jsonb(finding.evidence), Jsonb([]), "",
        ]  # fmt: skip
    row = "(" + ", ".join(["%s"] * len(_OPEN_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO {Anomaly._meta.db_table} ({', '.join(_OPEN_COLUMNS)}) "  # noqa: S608 - model constants
        f"VALUES {', '.join([row] * len(findings))} "
        "ON CONFLICT (kind, subject_key) WHERE resolved_at IS NULL DO NOTHING "
        "RETURNING id, kind, subject_key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        created = {(kind, key): pk for pk, kind, key in cursor.fetchall()}
    events = []
    for view, kind, finding in findings:
        pk = created.get((kind, order_subject(view.id)))
        if pk is None:
            continue
        events.append(
            (
                LedgerEventIn(
                    action="anomaly.opened",
                    actor=ENGINE_ACTOR,
                    order_id=view.id,
                    subject_type="anomaly",
                    subject_id=pk,
                    source_system=ENGINE_ACTOR,
                    after={
                        "kind": kind,
                        "subject": order_subject(view.id),
                        "evidence_at": finding.evidence_at.isoformat(),
                        "deadline": finding.deadline.isoformat() if finding.deadline else None,
                    },
                    references={"evidence": finding.evidence},
                ),
                pk,
            )
        )
    return events


def _anomalies_resolve(ids: Sequence[int], *, now: datetime) -> list[tuple[LedgerEventIn, int]]:
    if not ids:
        return []
    # The last repair action taken (``health.repairs``), if any, is the one the closing
    # evidence answered.
    sql = (
        f"UPDATE {Anomaly._meta.db_table} SET resolved_at = %s, resolution = %s, "  # noqa: S608 - model constant
        "resolved_note = %s, resolved_by_action = COALESCE(actions -> -1 ->> 'action', '') "
        "WHERE id = ANY(%s) AND resolved_at IS NULL "
        "RETURNING id, kind, subject_key, order_id, resolved_by_action"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, Resolution.AUTO, AUTO_NOTE, list(ids)])
        rows = sorted(cursor.fetchall())
    return [
        (
            LedgerEventIn(
                action="anomaly.resolved",
                actor=ENGINE_ACTOR,
                order_id=order_id,
                subject_type="anomaly",
                subject_id=pk,
                source_system=ENGINE_ACTOR,
                before={"open": True},
                after={
                    "kind": kind,
                    "subject": key,
                    "resolution": Resolution.AUTO,
                    "resolved_by": ENGINE_ACTOR,
                    "note": AUTO_NOTE,
                    **({"action": action} if action else {}),
                },
            ),
            pk,
        )
        for pk, kind, key, order_id, action in rows
    ]


def _checks_store(next_checks: Mapping[int, datetime | None]) -> None:
    """Upsert the orders with a next check, delete the rows of those without (two statements
    at most)."""
    due = sorted((pk, at) for pk, at in next_checks.items() if at is not None)
    done = sorted(pk for pk, at in next_checks.items() if at is None)
    table = OrderCheck._meta.db_table
    with prepared_cursor() as cursor:
        if due:
            # A check already stored at that time is left alone (no new row version).
            cursor.execute(
                f"INSERT INTO {table} (order_id, next_check_at) "  # noqa: S608 - model constant
                "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) "
                "ON CONFLICT (order_id) DO UPDATE SET next_check_at = EXCLUDED.next_check_at "
                f"WHERE {table}.next_check_at IS DISTINCT FROM EXCLUDED.next_check_at",
                [[Int8(pk) for pk, _at in due], [at for _pk, at in due]],
            )
        if done:
            sql = f"DELETE FROM {table} WHERE order_id = ANY(%s)"  # noqa: S608 - model constant
            cursor.execute(sql, [[Int8(pk) for pk in done]])


# --- the two triggers: facts arriving, time passing --------------------------------------------


def health_fact_hook(events: Sequence[FactEvent]) -> None:
    """``orderhub.hooks.fact_hooks`` listener: evaluate the flush's orders once, together."""
    anomalies_evaluate_locked(order_ids={event.order.id for event in events}, now=timezone.now())


def health_transition_hook(events: Sequence[TransitionEvent]) -> None:
    """Transitions without a fact (a person's action): evaluate those orders too. Those with a
    fact were evaluated by the fact hook of the same flush."""
    ids = {event.order.id for event in events if event.fact_id is None}
    if ids:
        anomalies_evaluate_locked(order_ids=ids, now=timezone.now())


@transaction.atomic
def anomalies_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Evaluate the orders whose next check is due (``next_check_at <= now``), oldest first,
    at most ``limit``. Due rows another sweep holds are skipped (SKIP LOCKED), and so are
    orders a processing transaction holds (it evaluates them itself): the sweep never waits
    for a lock, so it cannot deadlock with the fact hook. Returns how many were evaluated."""
    now = timezone.now() if now is None else now
    due = list(
        OrderCheck.objects.select_for_update(skip_locked=True)
        .filter(next_check_at__lte=now)
        .order_by("next_check_at")
        .values_list("order_id", flat=True)[:limit]
    )
    if not due:
        return 0
    locked = list(
        Order.objects.select_for_update(skip_locked=True)
        .filter(pk__in=due)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    anomalies_evaluate_locked(order_ids=locked, now=now)
    return len(locked)


# --- people: manual resolution, settings ---------------------------------------------------


def _actor(user: Any) -> str:
    return str(user.get_username()) if user is not None else ENGINE_ACTOR


@transaction.atomic
def anomaly_resolve(*, anomaly_id: int, user: Any, note: str = "") -> Anomaly:
    """A person closes an open anomaly (idempotent: a resolved one is returned as it is). If
    the gap is still true, the next evaluation opens a new one."""
    anomaly = Anomaly.objects.select_for_update().get(pk=anomaly_id)
    if anomaly.resolved_at is not None:
        return anomaly
    anomaly.resolved_at = timezone.now()
    anomaly.resolution = Resolution.MANUAL
    anomaly.resolved_by = user
    anomaly.resolved_note = note[:500]
    anomaly.save(update_fields=["resolved_at", "resolution", "resolved_by", "resolved_note"])
    ledger_append(
        action="anomaly.resolved",
        actor=_actor(user),
        order_id=anomaly.order_id,
        subject_type="anomaly",
        subject_id=anomaly.pk,
        before={"open": True},
        after={
            "kind": anomaly.kind,
            "subject": anomaly.subject_key,
            "resolution": Resolution.MANUAL,
            "resolved_by": _actor(user),
            "note": anomaly.resolved_note,
        },
    )
    return anomaly


def rule_params_validate(kind: str, params: Any) -> dict[str, Any]:
    """``params`` as a rule of ``kind`` accepts them: known keys only, each of its default's
    type (numbers not negative). Raises ``ValidationError`` naming the field."""
    try:
        defaults = rules.get(kind).defaults
    except RegistryError:
        raise ValidationError({"kind": f"unknown rule {kind!r}"}) from None
    if not isinstance(params, dict):
        raise ValidationError({"params": "must be an object"})
    errors: dict[str, str] = {}
    for key, value in params.items():
        if key not in defaults:
            errors[key] = f"unknown parameter (known: {', '.join(sorted(defaults)) or 'none'})"
            continue
        default = defaults[key]
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        texts = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if isinstance(default, int | float) and not isinstance(default, bool):
            if not is_number or value < 0:
                errors[key] = "must be a number, not negative"
        elif isinstance(default, list) and not texts:
            errors[key] = "must be a list of texts"
    if errors:
        raise ValidationError(
            {"params": [f"{key}: {text}" for key, text in sorted(errors.items())]}
        )
    return dict(params)


@transaction.atomic
def rule_setting_update(
    *, kind: str, user: Any, enabled: bool | None = None, params: dict[str, Any] | None = None
) -> RuleSetting:
    """Change a rule's switch and/or parameters (a history row and an
    ``health.rule_setting_updated`` ledger event with its author). Applies to the next
    evaluation."""
    rule_params_validate(kind, params if params is not None else {})
    setting, _created = RuleSetting.objects.select_for_update().get_or_create(
        kind=kind, defaults={"params": dict(rules.get(kind).defaults)}
    )
    before = {"enabled": setting.enabled, "params": setting.params}
    if enabled is not None:
        setting.enabled = enabled
    if params is not None:
        setting.params = params
    setting._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    setting.save()
    ledger_append(
        action="health.rule_setting_updated",
        actor=_actor(user),
        subject_type="rule_setting",
        subject_id=kind,
        before=before,
        after={"enabled": setting.enabled, "params": setting.params},
    )
    return setting


@transaction.atomic
def rule_override_set(
    *, kind: str, channel: str, params: dict[str, Any], user: Any
) -> RuleOverride:
    """Set the parameters of one rule for one channel (history, ledger event with author)."""
    rule_params_validate(kind, params)
    override, _created = RuleOverride.objects.select_for_update().get_or_create(
        kind=kind, channel=channel
    )
    before = {"params": override.params}
    override.params = params
    override._history_user = user  # type: ignore[attr-defined]
    override.save()
    ledger_append(
        action="health.rule_override_set",
        actor=_actor(user),
        subject_type="rule_override",
        subject_id=f"{kind}@{channel}",
        before=before,
        after={"params": params},
    )
    return override


@transaction.atomic
def category_chapters_set(*, category: str, chapters: Any, user: Any) -> CategoryChapters:
    """Which HS chapters fit a product category (two-digit texts; history and a ledger event
    with its author). Applies to the next evaluation of ``customs_hs_code``."""
    if not isinstance(chapters, list) or not all(
        isinstance(chapter, str) and len(chapter) == 2 and chapter.isdigit() for chapter in chapters
    ):
        raise ValidationError({"chapters": 'a list of two-digit chapters, e.g. ["61"]'})
    row, _created = CategoryChapters.objects.select_for_update().get_or_create(category=category)
    before = {"chapters": row.chapters}
    row.chapters = sorted(set(chapters))
    row._history_user = user  # type: ignore[attr-defined]
    row.save()
    ledger_append(
        action="health.category_chapters_set",
        actor=_actor(user),
        subject_type="category_chapters",
        subject_id=category,
        before=before,
        after={"chapters": row.chapters},
    )
    return row


def rule_settings_sync(**_kwargs: Any) -> None:
    """Create the missing ``RuleSetting`` rows with each rule's defaults (post-migrate)."""
    RuleSetting.objects.bulk_create(
        [
            RuleSetting(kind=kind, enabled=True, params=dict(entry.defaults))
            for kind, entry in rules.items()
        ],
        ignore_conflicts=True,
    )
