"""Evaluating rules into incidents; opening, reminding, acknowledging and resolving them.

One rule is evaluated under a lock of its row (``FOR UPDATE SKIP LOCKED``: an overlapping
beat run skips it), the metric read first, then one transaction writes the incidents. The
partial unique index keeps one incident not resolved per (rule, subject). Each incident sends
one "opened" message per notifier, then at most one reminder per escalation step while nobody
acknowledges, then one "resolved" message: never a flood. Opening, escalating, acknowledging
and resolving are ledger events; messages leave after commit (``task_on_commit``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max

from health.alerts.choices import DeliveryStatus, IncidentStatus, MessageKind
from health.alerts.exceptions import AlertError
from health.alerts.messages import incident_message
from health.alerts.metrics import MetricValue, metrics
from health.alerts.models import AlertRule, Incident, Notifier
from health.alerts.services.deliveries import deliveries_create, deliveries_release
from health.alerts.services.rules import compare, in_quiet_hours, quiet_hours_end, rule_scope
from health.alerts.tasks import delivery_send_task
from orderhub.effects import task_on_commit
from orderhub.models import Warehouse
from orderhub.registry import RegistryError
from traceability.services import ledger_append

ACTOR = "alerts"


def _queue(ids: Sequence[int]) -> None:
    for delivery_id in ids:
        task_on_commit(delivery_send_task, delivery_id=delivery_id)


def _event(incident: Incident, action: str, actor: str = ACTOR, **after: Any) -> None:
    ledger_append(
        action=action,
        actor=actor,
        subject_type="incident",
        subject_id=incident.pk,
        references={"rule": incident.rule.code, "subject": incident.subject_key},
        after={"status": incident.status, "value": str(incident.value), **after},
    )


def _reminder_at(rule: AlertRule, incident: Incident) -> datetime | None:
    steps = rule.escalation or []
    if incident.opened_at is None or incident.escalation_step >= len(steps):
        return None
    return incident.opened_at + timedelta(
        minutes=int(steps[incident.escalation_step]["after_minutes"])
    )


def _send(
    rule: AlertRule,
    incident: Incident,
    kind: str,
    now: datetime,
    *,
    notifiers: Sequence[Notifier] | None = None,
    step: int = 0,
) -> list[int]:
    title, text = incident_message(incident, kind, step=step)
    held = quiet_hours_end(rule, now) if in_quiet_hours(rule, now) else None
    chosen = list(rule.notifiers.order_by("code")) if notifiers is None else list(notifiers)
    return deliveries_create(
        notifiers=chosen,
        incident=incident,
        kind=kind,
        title=title,
        text=text,
        recipients=list(rule.recipients or []),
        now=now,
        held_until=held,
    )


def _warehouse_id(subject_key: str) -> int | None:
    kind, _sep, code = subject_key.partition(":")
    if kind != "warehouse" or not code:
        return None
    return Warehouse.objects.filter(code=code).values_list("id", flat=True).first()


def _open(rule: AlertRule, incident: Incident, now: datetime) -> list[int]:
    incident.status = IncidentStatus.OPEN
    incident.opened_at = now
    incident.next_reminder_at = _reminder_at(rule, incident)
    incident.save()
    _event(
        incident, "alerts.incident_opened", opened_at=now.isoformat(), evidence=incident.evidence
    )
    return _send(rule, incident, MessageKind.OPENED, now)


def _resolve(rule: AlertRule, incident: Incident, now: datetime) -> list[int]:
    was = incident.status
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.next_reminder_at = None
    incident.save()
    _event(incident, "alerts.incident_resolved", resolved_at=now.isoformat(), was=was)
    # Messages still held for quiet hours are moot now; if nothing about it ever left, nor
    # does its resolution.
    incident.deliveries.filter(status=DeliveryStatus.HELD).update(
        status=DeliveryStatus.CANCELLED, error="resolved before quiet hours ended"
    )
    if not incident.deliveries.exclude(status=DeliveryStatus.CANCELLED).exists():
        return []
    return _send(rule, incident, MessageKind.RESOLVED, now)


def _remind(rule: AlertRule, incident: Incident, now: datetime) -> list[int] | None:
    if in_quiet_hours(rule, now):
        return None  # reminders wait for the end of quiet hours (the next run after it sends)
    steps = rule.escalation or []
    step = steps[incident.escalation_step]
    # Reminders count from when the opening message could leave (a message held through quiet
    # hours starts its clock when they end), so the first reminder never follows it at once.
    opening = incident.deliveries.filter(kind=MessageKind.OPENED).exclude(
        status=DeliveryStatus.CANCELLED
    )
    released = opening.aggregate(latest=Max("not_before"))["latest"]
    if released is not None:
        due = released + timedelta(minutes=int(step["after_minutes"]))
        if now < due:
            incident.next_reminder_at = due
            incident.save(update_fields=["next_reminder_at"])
            return None
    codes = step.get("notifiers") or []
    notifiers = list(Notifier.objects.filter(code__in=codes).order_by("code")) if codes else None
    incident.escalation_step += 1
    incident.next_reminder_at = _reminder_at(rule, incident)
    if incident.next_reminder_at is not None:  # a late reminder pushes the next one back too
        gap = int(steps[incident.escalation_step]["after_minutes"]) - int(step["after_minutes"])
        incident.next_reminder_at = max(incident.next_reminder_at, now + timedelta(minutes=gap))
    incident.save(update_fields=["escalation_step", "next_reminder_at"])
    _event(
        incident,
        "alerts.incident_escalated",
        step=incident.escalation_step,
        notifiers=codes or sorted(rule.notifiers.values_list("code", flat=True)),
    )
    return _send(
        rule,
        incident,
        MessageKind.REMINDER,
        now,
        notifiers=notifiers,
        step=incident.escalation_step,
    )


def rule_values(rule: AlertRule, now: datetime) -> list[MetricValue] | None:
    """The metric's values for the rule; None when the metric has no function (yet)."""
    try:
        function = metrics.get(rule.metric)
    except RegistryError:
        return None
    if function is None:
        return None
    return function(now, rule_scope(rule))


def rule_evaluate(*, rule_id: int, now: datetime) -> dict[str, int]:
    """Evaluate one rule at ``now``; returns counts of what it did. Idempotent for one ``now``."""
    counts = {"opened": 0, "resolved": 0, "reminded": 0, "pending": 0}
    rule = AlertRule.objects.filter(pk=rule_id, enabled=True).first()
    if rule is None:
        return counts
    values = rule_values(rule, now)
    if values is None:
        return {**counts, "unavailable": 1}
    breaching = {
        v.subject_key: v for v in values if compare(v.value, rule.comparator, rule.threshold)
    }
    to_send: list[int] = []
    hold = timedelta(minutes=rule.hold_for_minutes)
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update(skip_locked=True).filter(pk=rule_id).first()
        if rule is None:
            return counts  # another run is evaluating it
        current = {
            incident.subject_key: incident
            for incident in Incident.objects.select_for_update()
            .filter(rule=rule, resolved_at__isnull=True)
            .order_by("id")
        }
        for subject, value in sorted(breaching.items()):
            incident = current.get(subject)
            if incident is None:
                incident = Incident.objects.create(
                    rule=rule,
                    subject_key=subject,
                    warehouse_id=_warehouse_id(subject),
                    value=value.value,
                    evidence=value.evidence,
                    breach_started_at=now,
                    ack_nonce=secrets.token_hex(16),
                )
            else:
                incident.value = value.value
                incident.evidence = value.evidence
                incident.save(update_fields=["value", "evidence"])
            if incident.status == IncidentStatus.PENDING:
                if now - incident.breach_started_at >= hold:
                    to_send += _open(rule, incident, now)
                    counts["opened"] += 1
                else:
                    counts["pending"] += 1
            elif (
                incident.status == IncidentStatus.OPEN
                and incident.next_reminder_at is not None
                and incident.next_reminder_at <= now
            ):
                reminded = _remind(rule, incident, now)
                if reminded is not None:
                    to_send += reminded
                    counts["reminded"] += 1
        for subject, incident in current.items():
            if subject in breaching:
                continue
            if incident.status == IncidentStatus.PENDING:
                incident.delete()  # cleared before it held long enough: nothing was said
                continue
            to_send += _resolve(rule, incident, now)
            counts["resolved"] += 1
        _queue(to_send)
    return counts


def alerts_evaluate(*, now: datetime) -> dict[str, int]:
    """The beat's run: every enabled rule, then the deliveries that are due."""
    totals = {
        "rules": 0,
        "opened": 0,
        "resolved": 0,
        "reminded": 0,
        "pending": 0,
        "unavailable": 0,
        "released": 0,
    }
    for rule_id in (
        AlertRule.objects.filter(enabled=True).order_by("id").values_list("id", flat=True)
    ):
        totals["rules"] += 1
        for key, count in rule_evaluate(rule_id=rule_id, now=now).items():
            totals[key] += count
    with transaction.atomic():
        released = deliveries_release(now=now)
        _queue(released)
    totals["released"] = len(released)
    return totals


@transaction.atomic
def incident_acknowledge(
    *, incident: Incident | int, user: Any, now: datetime | None = None, source: str = "board"
) -> Incident:
    """Record who acknowledged the incident and when, and stop its reminders. Already
    acknowledged: returned unchanged (the first acknowledgement stands). Refused for an
    incident that is resolved or not yet open."""
    from django.utils import timezone

    incident_id = incident if isinstance(incident, int) else incident.pk
    locked = Incident.objects.select_for_update().select_related("rule").get(pk=incident_id)
    if locked.status == IncidentStatus.ACKNOWLEDGED:
        return locked
    if locked.status != IncidentStatus.OPEN:
        raise AlertError(f"incident {locked.pk} is {locked.status}: nothing to acknowledge")
    when = now or timezone.now()
    locked.status = IncidentStatus.ACKNOWLEDGED
    locked.acknowledged_at = when
    locked.acknowledged_by = user
    locked.next_reminder_at = None
    locked.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "next_reminder_at"])
    _event(
        locked,
        "alerts.incident_acknowledged",
        actor=user.get_username(),
        acknowledged_at=when.isoformat(),
        source=source,
    )
    return locked
