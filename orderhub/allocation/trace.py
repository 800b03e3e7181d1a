"""The allocation entries of an order's trace: offers, claims with their certificates,
releases (registered in ``OrderHubConfig.ready()``)."""

from __future__ import annotations

import json

from django.utils.translation import gettext as _

from orderhub.allocation.selectors import allocations_of_order
from orderhub.models import Offer, Order
from traceability.selectors import TraceEntry


def allocation_trace(order: Order) -> list[TraceEntry]:
    entries: list[TraceEntry] = []
    offered: dict[object, list[str]] = {}
    for offered_at, code in (
        Offer.objects.filter(order=order)
        .order_by("offered_at", "warehouse__code")
        .values_list("offered_at", "warehouse__code")
    ):
        offered.setdefault(offered_at, []).append(code)
    for at, codes in offered.items():
        entries.append(
            TraceEntry(
                at=at,  # type: ignore[arg-type]
                source_system="orderhub.allocation",
                kind="allocation",
                title=_("Offered to %(count)s warehouses") % {"count": len(codes)},
                details=((_("warehouses"), ", ".join(codes)),),
            )
        )
    for allocation in allocations_of_order(order.pk):
        details = [
            (_("warehouse"), allocation.warehouse.code),
            (_("sequence"), str(allocation.sequence)),
            (_("wave"), str(allocation.wave.number) if allocation.wave else ""),
            (
                _("lease until"),
                allocation.lease_until.isoformat() if allocation.lease_until else "",
            ),
            (_("key id"), allocation.key_id),
        ]
        raw = ""
        if allocation.certificate_signature:
            raw = json.dumps(
                {
                    "payload": allocation.certificate_payload,
                    "signature": allocation.certificate_signature,
                    "key_id": allocation.key_id,
                },
                ensure_ascii=False,
                indent=1,
            )
        entries.append(
            TraceEntry(
                at=allocation.claimed_at,
                source_system=f"warehouse:{allocation.warehouse.code}",
                kind="allocation",
                title=_("Claimed by %(warehouse)s, certificate issued")
                % {"warehouse": allocation.warehouse.code},
                actor=allocation.claimed_by,
                details=tuple(details),
                raw=raw,
            )
        )
        if allocation.released_at is not None:
            entries.append(
                TraceEntry(
                    at=allocation.released_at,
                    source_system="orderhub.allocation",
                    kind="allocation",
                    title=_("Released from %(warehouse)s")
                    % {"warehouse": allocation.warehouse.code},
                    details=((_("reason"), allocation.release_reason),),
                )
            )
    return entries
