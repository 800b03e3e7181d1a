"""Saving alert rules (audited) and the pure parts of evaluating them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from health.alerts.choices import Comparator, Severity
from health.alerts.exceptions import AlertError
from health.alerts.metrics import Scope, metrics
from health.alerts.models import AlertRule, Notifier
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append


def compare(value: Decimal, comparator: str, threshold: Decimal) -> bool:
    if comparator == Comparator.GT:
        return value > threshold
    if comparator == Comparator.GTE:
        return value >= threshold
    if comparator == Comparator.LT:
        return value < threshold
    if comparator == Comparator.LTE:
        return value <= threshold
    raise AlertError(f"unknown comparator {comparator!r}")


def rule_scope(rule: AlertRule) -> Scope:
    return Scope(
        warehouses=tuple(rule.scope_warehouses or ()),
        channels=tuple(rule.scope_channels or ()),
        window=timedelta(minutes=rule.window_minutes),
    )


def in_quiet_hours(rule: AlertRule, now: datetime) -> bool:
    """Whether a non-critical message of ``rule`` waits at ``now`` (local time, TIME_ZONE).
    A window may cross midnight (22:00-07:00)."""
    if rule.severity == Severity.CRITICAL or rule.quiet_start is None or rule.quiet_end is None:
        return False
    start, end = rule.quiet_start, rule.quiet_end
    if start == end:
        return False
    local = timezone.localtime(now).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(rule: AlertRule, now: datetime) -> datetime:
    """The next end of the rule's quiet hours after ``now`` (call while ``in_quiet_hours``)."""
    assert rule.quiet_end is not None
    local = timezone.localtime(now)
    end: time = rule.quiet_end
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


def validate_escalation(steps: Any) -> list[dict[str, Any]]:
    """``[{"after_minutes": int > previous, "notifiers": [codes]}, ...]``."""
    if not isinstance(steps, list):
        raise AlertError("escalation: a list of steps is expected")
    previous = 0
    cleaned = []
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict) or not isinstance(step.get("after_minutes"), int):
            raise AlertError(f"escalation step {number}: needs an integer after_minutes")
        after = step["after_minutes"]
        if after <= previous:
            raise AlertError(f"escalation step {number}: after_minutes must grow (> {previous})")
        codes = step.get("notifiers", [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise AlertError(f"escalation step {number}: notifiers is a list of codes")
        unknown = sorted(
            set(codes) - set(Notifier.objects.filter(code__in=codes).values_list("code", flat=True))
        )
        if unknown:
            raise AlertError(f"escalation step {number}: unknown notifier(s) {', '.join(unknown)}")
        cleaned.append({"after_minutes": after, "notifiers": codes})
        previous = after
    return cleaned


def _snapshot(rule: AlertRule) -> dict[str, Any]:
    data = model_to_dict(rule, exclude=["id", "notifiers"])
    data["threshold"] = str(rule.threshold)
    for name in ("quiet_start", "quiet_end"):
        data[name] = data[name].isoformat() if data[name] else None
    return data


@transaction.atomic
def alert_rule_save(
    *,
    rule: AlertRule,
    notifiers: Sequence[Notifier] | None,
    user: Any | None,
    source: str = "admin",
) -> AlertRule:
    """Validate and save ``rule`` (new or changed, its fields set by the caller), set its
    notifiers when given, and append one ledger event with the values before and after."""
    if not metrics.known(rule.metric):
        raise AlertError(f"unknown metric {rule.metric!r} (known: {', '.join(metrics.names())})")
    compare(Decimal(0), rule.comparator, Decimal(0))
    rule.escalation = validate_escalation(rule.escalation)
    if (rule.quiet_start is None) != (rule.quiet_end is None):
        raise AlertError("quiet hours need both a start and an end")
    before = None
    if rule.pk is not None:
        stored = AlertRule.objects.select_for_update().get(pk=rule.pk)
        before = {
            **_snapshot(stored),
            "notifiers": sorted(stored.notifiers.values_list("code", flat=True)),
        }
    rule.save()
    if notifiers is not None:
        rule.notifiers.set(notifiers)
    ledger_append(
        action="alerts.rule_saved",
        actor=actor_label(user, source),
        subject_type="alert_rule",
        subject_id=rule.code,
        before=before,
        after={
            **_snapshot(rule),
            "notifiers": sorted(rule.notifiers.values_list("code", flat=True)),
        },
    )
    return rule
