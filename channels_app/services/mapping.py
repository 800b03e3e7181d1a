"""Raw status → milestone resolution and the business user's mapping edits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from channels_app.adapters.base import adapters
from channels_app.models import StatusMapping
from orderhub.services import status_facts_reapply
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append


def status_map_for_kind(*, kind: str) -> dict[str, str]:
    """The effective map of one kind: the adapter's defaults overridden by mapping rows.

    A row with an empty milestone maps the raw status to "no milestone" explicitly.
    """
    effective = dict(adapters.get(kind).default_status_map) if kind in adapters else {}
    for raw_status, milestone in StatusMapping.objects.filter(kind=kind).values_list(
        "raw_status", "milestone"
    ):
        effective[raw_status] = milestone
    return effective


@transaction.atomic
def status_mapping_save(
    *, kind: str, raw_status: str, milestone: str, note: str = "", user: Any | None = None
) -> tuple[StatusMapping, int]:
    """Create or change the mapping of one raw status, then apply the facts stored unmapped.

    History is kept by simple-history. Returns (mapping, facts applied). Idempotent.
    """
    mapping = StatusMapping.objects.select_for_update().filter(kind=kind, raw_status=raw_status)
    row = mapping.first()
    before = row.milestone if row is not None else None
    if row is None:
        row = StatusMapping(kind=kind, raw_status=raw_status)
    row.milestone = milestone
    row.note = note
    row._history_user = user  # type: ignore[attr-defined]
    row.save()
    ledger_append(
        action="mapping.saved",
        actor=actor_label(user, "admin"),
        subject_type="status_mapping",
        subject_id=row.pk,
        before={"milestone": before} if before is not None else {},
        after={"kind": kind, "raw_status": raw_status, "milestone": milestone},
    )
    applied = 0
    if milestone:
        applied = status_facts_reapply(
            system_prefix=f"{kind}:", raw_status=raw_status, milestone=milestone, user=user
        )
    return row, applied
