"""Raw status → milestone resolution and the business user's mapping edits.

The adapters' shipped defaults are stored as ``source=builtin`` rows (kept in step with the
code by ``status_mappings_builtin_sync``, run after every ``migrate``) so the admin lists and
edits them; an edit turns the row into an override. The lookup reads the defaults from the
code and the overrides from the table: override > default, whether or not the sync ran.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from channels_app.adapters.base import adapters
from channels_app.models import MappingSource, StatusMapping
from orderhub.choices import Milestone
from orderhub.services import status_facts_reapply
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append

BUILTIN_REASON = "built-in default"


def status_map_for_kind(*, kind: str) -> dict[str, str]:
    """The effective map of one kind: the adapter's defaults overridden by edited rows.

    A row with an empty milestone maps the raw status to "no milestone" explicitly.
    """
    effective = dict(adapters.get(kind).default_status_map) if kind in adapters else {}
    for raw_status, milestone in StatusMapping.objects.filter(
        kind=kind, source=MappingSource.OVERRIDE
    ).values_list("raw_status", "milestone"):
        effective[raw_status] = milestone
    return effective


def _default_milestone(kind: str, raw_status: str) -> str | None:
    defaults = adapters.get(kind).default_status_map if kind in adapters else {}
    return str(defaults[raw_status]) if raw_status in defaults else None


def _row_values(row: StatusMapping) -> dict[str, str]:
    return {
        "kind": row.kind,
        "raw_status": row.raw_status,
        "milestone": row.milestone,
        "note": row.note,
        "source": row.source,
    }


def status_mapping_validate(*, kind: str, raw_status: str, milestone: str) -> None:
    """Raise ``ValidationError`` for an unknown kind or milestone or an empty raw status."""
    errors = []
    if kind not in adapters:
        errors.append(f"unknown channel kind {kind!r} (known: {', '.join(adapters) or 'none'})")
    if not raw_status.strip():
        errors.append("the raw status must not be empty")
    if milestone and milestone not in Milestone.values:
        errors.append(f"unknown milestone {milestone!r}")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def status_mapping_save(
    *,
    kind: str,
    raw_status: str,
    milestone: str,
    note: str = "",
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> tuple[StatusMapping, int]:
    """Create or change the mapping of one raw status (an override), then apply the facts
    stored unmapped.

    Locks the row; one ``mapping.saved`` event (before/after) and one history row. The same
    values again → no write, no event. Returns (mapping, facts applied).
    """
    status_mapping_validate(kind=kind, raw_status=raw_status, milestone=milestone)
    row = StatusMapping.objects.select_for_update().filter(kind=kind, raw_status=raw_status).first()
    before = _row_values(row) if row is not None else {}
    if row is None:
        row = StatusMapping(kind=kind, raw_status=raw_status)
    elif (row.milestone, row.note, row.source) == (milestone, note, MappingSource.OVERRIDE):
        return row, 0
    row.milestone = milestone
    row.note = note
    row.source = MappingSource.OVERRIDE
    row._history_user = user  # type: ignore[attr-defined]
    row._change_reason = reason or None  # type: ignore[attr-defined]
    row.save()
    ledger_append(
        action="mapping.saved",
        actor=actor_label(user, source),
        subject_type="status_mapping",
        subject_id=row.pk,
        before=before,
        after=_row_values(row),
        references={"reason": reason},
    )
    applied = 0
    if milestone:
        applied = status_facts_reapply(
            system_prefix=f"{kind}:", raw_status=raw_status, milestone=milestone, user=user
        )
    return row, applied


@transaction.atomic
def status_mapping_delete(
    *, mapping_id: int, user: Any | None = None, source: str = "admin", reason: str = ""
) -> StatusMapping | None:
    """Remove an edit: an override of a shipped default goes back to the built-in row (the
    default applies again); any other override is deleted. A built-in row cannot be deleted
    (map it to no milestone instead). One ``mapping.deleted`` event. Returns the built-in row
    it went back to, or None when the row is gone."""
    row = StatusMapping.objects.select_for_update().get(pk=mapping_id)
    if row.source == MappingSource.BUILTIN:
        raise ValidationError(
            "a built-in mapping cannot be deleted; map it to no milestone to ignore the status"
        )
    before = _row_values(row)
    row._history_user = user  # type: ignore[attr-defined]
    row._change_reason = reason or None  # type: ignore[attr-defined]
    default = _default_milestone(row.kind, row.raw_status)
    result: StatusMapping | None
    if default is None:
        row.delete()
        after: dict[str, str] = {}
        result = None
    else:
        row.milestone, row.note, row.source = default, "", MappingSource.BUILTIN
        row.save()
        after = _row_values(row)
        result = row
    ledger_append(
        action="mapping.deleted",
        actor=actor_label(user, source),
        subject_type="status_mapping",
        subject_id=mapping_id,
        before=before,
        after=after,
        references={"reason": reason},
    )
    if default:
        status_facts_reapply(
            system_prefix=f"{before['kind']}:",
            raw_status=before["raw_status"],
            milestone=default,
            user=user,
        )
    return result


@transaction.atomic
def status_mappings_builtin_sync() -> int:
    """Store every registered adapter's ``default_status_map`` as built-in rows; returns the
    rows created, changed or deleted.

    Idempotent (a second run changes nothing). Overrides are never touched; a built-in row
    whose default changed in the code follows it; one whose default is gone (or whose kind is
    no longer registered) is deleted. Run after ``migrate`` (post_migrate), never at import.
    Locks the mapping table's rows for the run. No ledger event: these rows mirror the code.
    """
    defaults = {
        (kind, raw_status): str(milestone)
        for kind in adapters
        for raw_status, milestone in adapters.get(kind).default_status_map.items()
    }
    existing = {
        (row.kind, row.raw_status): row for row in StatusMapping.objects.select_for_update()
    }
    missing = [
        StatusMapping(kind=kind, raw_status=raw_status, milestone=milestone,
                      source=MappingSource.BUILTIN)
        for (kind, raw_status), milestone in defaults.items()
        if (kind, raw_status) not in existing
    ]  # fmt: skip
    if missing:
        bulk_create_with_history(missing, StatusMapping, default_change_reason=BUILTIN_REASON)
    changed = 0
    for key, row in existing.items():
        if row.source != MappingSource.BUILTIN:
            continue
        row._change_reason = BUILTIN_REASON  # type: ignore[attr-defined]
        if key not in defaults:
            row.delete()
            changed += 1
        elif row.milestone != defaults[key]:
            row.milestone = defaults[key]
            row.save()
            changed += 1
    return len(missing) + changed
