"""Manual imports: a saved raw payload through the same verify → store → process path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.adapters.base import (
    HookResponse,
    InboundRequest,
    VerificationError,
    Verified,
    adapters,
)
from channels_app.models import ChannelAccount, InboundMessage, InboxSource
from channels_app.selectors import account_config
from channels_app.services.intake import inbound_message_store, quarantine_store
from channels_app.services.processing import inbox_message_claim, inbox_message_process
from traceability.services import ledger_append


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    status: str
    message_id: int | None = None
    created: bool = False
    reason: str = ""
    order_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manual_import(
    *, code: str, body: bytes, headers: Mapping[str, str], actor: str, verify: bool = True
) -> ImportOutcome:
    """Verify (unless ``verify`` is False, recorded), store as a manual import, process now.

    A payload already stored (same delivery id or body hash) is not stored twice; it is
    processed now if it is still waiting. Header names must be lower-case.
    """
    account = ChannelAccount.objects.filter(code=code).first()
    if account is None or account.kind not in adapters:
        return ImportOutcome(status="unknown_account", reason=f"no usable account {code!r}")
    received_at = timezone.now()
    if verify:
        request = InboundRequest(body=body, headers=headers, query={}, received_at=received_at)
        try:
            verified = adapters.get(account.kind)().verify(account_config(account), request)
        except VerificationError as error:
            row = quarantine_store(
                account_code=code,
                reason=f"manual import by {actor}: {error.reason}",
                headers=headers,
                body=body,
                received_at=received_at,
                response_status=error.response.status,
            )
            return ImportOutcome(status="quarantined", reason=row.reason)
    else:
        delivery_id = headers.get("x-orderhub-delivery", "")
        verified = Verified(
            delivery_id=delivery_id, event_type="manual", payload=body, response=HookResponse()
        )
    with transaction.atomic():
        message_id, created = inbound_message_store(
            account=account,
            verified=verified,
            body=body,
            headers=headers,
            received_at=received_at,
            source=InboxSource.MANUAL_IMPORT,
            actor=actor,
        )
        ledger_append(
            action="intake.manual_import",
            actor=actor,
            subject_type="inbound_message",
            subject_id=message_id,
            source_system=f"{account.kind}:{account.code}",
            after={"verified": verify, "created": created},
            references={"message_id": message_id},
        )
    if inbox_message_claim(message_id=message_id):
        inbox_message_process(message_id=message_id)
    message = InboundMessage.objects.get(pk=message_id)
    return ImportOutcome(
        status=message.status,
        message_id=message_id,
        created=created,
        reason=message.reason,
        order_ids=list(message.order_ids),
    )
