"""Deliveries: one message to one notifier, sent outside any transaction, its answer kept.

A delivery is claimed in a short transaction (``pending`` → ``sending`` with a lease), sent
with no lock held, and its result written in a second short transaction. Transient failures
go to ``retry`` with an exponential backoff (with jitter) until ``ALERTS_DELIVERY_MAX_ATTEMPTS``,
then ``failed``: visible in the admin on the delivery and its incident.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from health.alerts.choices import DeliveryStatus, NotifierKind
from health.alerts.models import Delivery, Incident, Notifier
from health.alerts.notifiers.base import DeliveryResult, Message, notifier_kinds, phones
from health.alerts.services.notifiers import notifier_config

ACK_SALT = "alerts.incident-ack"
# A delivery claimed by a worker that died is sent again after this long.
SENDING_LEASE = timedelta(seconds=60)


def ack_token(incident: Incident) -> str:
    """Signed (SECRET_KEY) over the incident id and its random nonce: unguessable, and only
    valid for this incident."""
    return signing.dumps([incident.pk, incident.ack_nonce], salt=ACK_SALT, compress=True)


def ack_token_incident(token: str) -> Incident | None:
    try:
        incident_id, nonce = signing.loads(token, salt=ACK_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return (
        Incident.objects.select_related("rule", "warehouse")
        .filter(pk=incident_id, ack_nonce=nonce)
        .first()
    )


def ack_url(incident: Incident) -> str:
    base = (settings.ALERTS_BASE_URL or settings.PUBLIC_BASE_URL).rstrip("/")
    return base + reverse("alerts:ack", args=[ack_token(incident)])


def retry_delay(attempts: int) -> timedelta:
    base = min(settings.ALERTS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 900.0)
    return timedelta(seconds=base * (1 + random.random() * 0.25))


def deliveries_create(
    *,
    notifiers: Sequence[Notifier],
    incident: Incident | None,
    kind: str,
    title: str,
    text: str,
    recipients: Sequence[str],
    now: datetime,
    held_until: datetime | None = None,
) -> list[int]:
    """Rows for one message to each notifier (a voice notifier: one per phone number); returns
    the ids to send now. A disabled notifier gets a ``cancelled`` row saying so, never a call;
    with ``held_until`` the rows wait for the end of quiet hours."""
    to_send: list[int] = []
    for notifier in notifiers:
        groups: list[list[str]] = [list(recipients)]
        if notifier.kind == NotifierKind.VOICE:  # one call, one delivery, per phone number
            numbers = phones(tuple(recipients)) or phones(
                tuple(n.strip() for n in str(notifier.options.get("numbers", "")).split(","))
            )
            groups = [[number] for number in numbers] or [[]]
        for group in groups:
            status = DeliveryStatus.PENDING
            error = ""
            if not notifier.enabled:
                status, error = DeliveryStatus.CANCELLED, "notifier disabled (not configured)"
            elif held_until is not None:
                status = DeliveryStatus.HELD
            delivery = Delivery.objects.create(
                notifier=notifier,
                incident=incident,
                kind=kind,
                status=status,
                title=title[:300],
                text=text,
                recipients=group,
                not_before=held_until or now,
                created_at=now,
                error=error,
            )
            if status == DeliveryStatus.PENDING:
                to_send.append(delivery.pk)
    return to_send


def _claimable(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)


def delivery_send(*, delivery_id: int, max_attempts: int | None = None) -> str:
    """Send one delivery if it is due (``pending``, or ``sending`` with a lapsed lease);
    returns its status afterwards ("skipped" when another worker has it or it is gone)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notifier", "incident__rule")
            .filter(_claimable(now), pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "skipped"
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.lease_until = now + SENDING_LEASE
        delivery.save(update_fields=["status", "attempts", "lease_until"])
    notifier = delivery.notifier
    incident = delivery.incident
    message = Message(
        kind=delivery.kind,
        title=delivery.title,
        text=delivery.text,
        recipients=tuple(delivery.recipients),
        ack_url=ack_url(incident) if incident is not None and delivery.kind != "resolved" else "",
        reference=f"incident-{incident.pk}-{delivery.kind}" if incident else f"test-{delivery.pk}",
        severity=incident.rule.severity if incident is not None else "warning",
    )
    result = notifier_kinds.get(notifier.kind).send(notifier_config(notifier), message)
    return delivery_record(delivery_id=delivery.pk, result=result, max_attempts=max_attempts)


@transaction.atomic
def delivery_record(
    *, delivery_id: int, result: DeliveryResult, max_attempts: int | None = None
) -> str:
    now = timezone.now()
    limit = settings.ALERTS_DELIVERY_MAX_ATTEMPTS if max_attempts is None else max_attempts
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    delivery.transport_status = result.transport_status[:300]
    delivery.provider_result = result.provider_result[:500]
    delivery.error = result.error[:500]
    delivery.payload_summary = result.payload_summary
    delivery.lease_until = None
    if result.ok:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
    elif result.transient and delivery.attempts < limit:
        delivery.status = DeliveryStatus.RETRY
        delivery.not_before = now + retry_delay(delivery.attempts)
    else:
        delivery.status = DeliveryStatus.FAILED
    delivery.save()
    return str(delivery.status)


@transaction.atomic
def deliveries_release(*, now: datetime, limit: int = 200) -> list[int]:
    """The beat's part: held deliveries whose quiet hours ended and retries that are due
    become ``pending``; returns those and the ones stuck in ``pending``/``sending`` (a send
    that was never queued or whose worker died) to send."""
    due = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(
            Q(status__in=[DeliveryStatus.HELD, DeliveryStatus.RETRY], not_before__lte=now)
            | Q(status=DeliveryStatus.PENDING, created_at__lte=now - SENDING_LEASE)
            | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
        )
        .order_by("not_before", "id")
        .values_list("id", "status")[:limit]
    )
    ids = [pk for pk, _status in due]
    Delivery.objects.filter(
        pk__in=[pk for pk, status in due if status in (DeliveryStatus.HELD, DeliveryStatus.RETRY)]
    ).update(status=DeliveryStatus.PENDING)
    return ids
