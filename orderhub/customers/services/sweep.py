from __future__ import annotations

from datetime import datetime

from orderhub.customers.choices import MessageKind
from orderhub.customers.services.confirmation import (
    confirmation_escalate,
    confirmation_remind,
    confirmations_due,
)
from orderhub.customers.services.wechat import wechat_template_send


def confirmations_sweep(*, now: datetime) -> dict[str, int]:
    """Send the due reminders (each marked in its own short transaction, then sent outside it)
    and escalate the requests unanswered past the escalation delay."""
    remind, escalate = confirmations_due(now=now)
    reminded = 0
    for confirmation_id in remind:
        token = confirmation_remind(confirmation_id=confirmation_id, now=now)
        if token is not None:
            wechat_template_send(
                confirmation_id=confirmation_id, token=token, kind=MessageKind.REMINDER, now=now
            )
            reminded += 1
    escalated = sum(confirmation_escalate(confirmation_id=pk, now=now) for pk in escalate)
    return {"reminded": reminded, "escalated": escalated}
