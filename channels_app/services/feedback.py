"""Returns, complaints and reviews from the channels' own messages, into ``health.Feedback``.

Processing calls ``feedback_from_messages`` after it flushed a batch's order changes, in the
same transaction: the orders a message names exist by then (the complaint takes the buyer's
province from its order), and the feedback commits, or rolls back, with the message. The
adapter reads the reports (``ChannelAdapter.feedback``, pure); ``feedback_record`` stores one
row per platform id and moves it on when a later status arrives, so a redelivery or a retry
of the batch changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings

from channels_app.adapters.base import AccountConfig, FeedbackReport, adapters
from channels_app.models import ChannelAccount, InboundMessage
from channels_app.parsing import payload_parse
from health.board_services import FeedbackIn, feedback_record

logger = logging.getLogger(__name__)


def feedback_from_messages(
    messages: Sequence[InboundMessage],
    *,
    config: Callable[[ChannelAccount], AccountConfig],
) -> int:
    """Record the feedback the processed ``messages`` report; returns how many reports were
    applied (new or repeated). Only messages whose adapter expects feedback for their event
    type are parsed again. A message is linked to the order its feedback is about (its
    ``order_ids``, which the caller writes), so the order's trace shows a refund or dispute
    that said nothing else about the order. Precondition: the caller holds the messages'
    rows in its transaction and has flushed their order changes."""
    applied = 0
    for message in messages:
        account = message.account
        adapter = adapters.get(account.kind)()
        if not adapter.feedback_expected(message.event_type):
            continue
        payload = payload_parse(bytes(message.payload), max_bytes=settings.WEBHOOK_MAX_BODY_BYTES)
        reports = adapter.feedback(config(account), payload, event_type=message.event_type)
        for report in reports:
            row = feedback_record(
                feedback=_feedback_in(report, account=account, message=message),
                source_system=f"{account.kind}:{account.code}",
            )
            if row.order_id is not None and row.order_id not in message.order_ids:
                message.order_ids = sorted([*message.order_ids, row.order_id])
            applied += 1
    if applied:
        logger.info("channels.feedback.recorded reports=%s", applied)
    return applied


def _feedback_in(
    report: FeedbackReport, *, account: ChannelAccount, message: InboundMessage
) -> FeedbackIn:
    status_at = report.status_at or message.received_at
    return FeedbackIn(
        channel=account.code,
        external_order_id=report.external_order_id,
        kind=report.kind,
        external_id=report.external_id,
        occurred_at=report.opened_at or status_at,
        rating=report.rating,
        positive=report.positive,
        reason=report.reason,
        raw={"payload": _json_safe(report.detail), "message": message.pk},
        status=report.status,
        status_at=status_at,
    )


def _json_safe(value: Any) -> Any:
    """Payload values as JSON holds them: money parsed as ``Decimal`` becomes its text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
