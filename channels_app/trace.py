"""What channels contribute to an order's trace: the raw inbound messages, the courier feeds'
tracking events and the outbound calls, each attributed to its channel account.
Registered in ``ChannelsConfig.ready()``."""

from __future__ import annotations

import json

from django.utils.translation import gettext as _

from channels_app.masking import masked
from channels_app.models import InboundMessage, OutboundCall
from orderhub.models import Order, TrackingEvent
from traceability.selectors import TraceEntry, trace_sources

RAW_LIMIT = 20_000  # characters of a raw body shown on the trace page


def _text(data: bytes) -> str:
    text = bytes(data).decode("utf-8", errors="replace")
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "\n…"


@trace_sources.register("channels.inbound")
def inbound_messages(order: Order) -> list[TraceEntry]:
    messages = (
        InboundMessage.objects.filter(order_ids__contains=[order.pk])
        .select_related("account")
        .order_by("received_at", "id")
    )
    return [
        TraceEntry(
            at=message.received_at,
            source_system=message.account.system,
            kind="inbound",
            title=_("Inbound message #%(id)s %(event)s")
            % {"id": message.pk, "event": message.event_type},
            actor=message.actor,
            details=(
                (_("delivery id"), message.delivery_id),
                (_("source"), str(message.get_source_display())),
                (_("status"), str(message.get_status_display())),
                (_("body SHA-256"), message.body_sha256),
                (_("duplicates received"), str(message.duplicate_count)),
                (_("headers"), json.dumps(message.headers, ensure_ascii=False, sort_keys=True)),
            ),
            raw=_text(message.body),
        )
        for message in messages
    ]


@trace_sources.register("channels.outbound")
def outbound_calls(order: Order) -> list[TraceEntry]:
    calls = (
        OutboundCall.objects.filter(order_id_ref=order.pk)
        .select_related("account")
        .order_by("started_at", "id")
    )
    return [
        TraceEntry(
            at=call.started_at,
            source_system=call.account.system,
            kind="outbound",
            title=f"{call.method} {call.operation} → {call.response_status or '-'}",
            details=(
                (_("URL"), masked(call.url)),
                (_("outcome"), str(call.get_outcome_display())),
                (_("latency (ms)"), str(call.latency_ms or "")),
                (_("error"), call.error),
            ),
            raw=masked(f"{call.request_body}\n\n---\n\n{call.response_body}")[:RAW_LIMIT],
        )
        for call in calls
    ]


@trace_sources.register("channels.tracking")
def tracking_events(order: Order) -> list[TraceEntry]:
    """The waybill's tracking timeline, by the carrier's clock, with the provider's words."""
    return [
        TraceEntry(
            at=event.occurred_at,
            source_system=event.system,
            kind="tracking",
            title=_("Tracking: %(stage)s") % {"stage": event.get_stage_display()},
            details=(
                (_("waybill"), f"{event.carrier} {event.tracking_number}".strip()),
                (
                    _("provider state"),
                    "/".join(filter(None, (event.raw_state, event.raw_substate))),
                ),
                (_("description"), event.description),
                (_("location"), event.location),
                (_("received at"), event.received_at.isoformat()),
            ),
        )
        for event in TrackingEvent.objects.filter(order=order).order_by("occurred_at", "id")
    ]
