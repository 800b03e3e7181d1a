from __future__ import annotations

from typing import Any

from django.utils import timezone

from traceability.models import LedgerEvent


def ledger_append(
    *,
    action: str,
    actor: str,
    order_id: int | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
    source_system: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    references: dict[str, Any] | None = None,
) -> LedgerEvent:
    """Append one event inside the caller's transaction (it commits or rolls back with it).

    Values must be JSON-serialisable. Never updates an existing event.
    """
    return LedgerEvent.objects.create(
        created_at=timezone.now(),
        actor=actor,
        action=action,
        order_id=order_id,
        subject_type=subject_type,
        subject_id=str(subject_id),
        source_system=source_system,
        before=before or {},
        after=after or {},
        references=references or {},
    )
