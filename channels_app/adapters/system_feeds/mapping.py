"""The merchant's own systems: a WMS, an ERP or a TMS reporting through the facts API.

They do not post webhooks: they call ``POST /api/v1/facts/`` (and ``/api/v1/stock/``) with a
token (``channels_app.api``). These adapters give the kinds their option specs and the shipped
status vocabularies (editable as status mappings). Pure: no ORM, network or clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    InboundRequest,
    NormalizeError,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder

SYSTEM_KINDS: tuple[str, ...] = ("wms", "erp", "tms")


class SystemFeedAdapter(ChannelAdapter):
    """Base of the system kinds: nothing arrives by webhook."""

    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec(
            "warehouse",
            "Code of the warehouse this system speaks for (left out: every warehouse)",
            required=False,
        ),
    )

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        raise VerificationError(
            f"{account.kind} accounts report through POST /api/v1/facts/; there is no webhook"
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        raise NormalizeError(f"{account.kind} accounts report through the facts API")


@adapters.register("wms")
class WmsAdapter(SystemFeedAdapter):
    kind = "wms"
    label = str(_("Warehouse management system (facts API)"))
    options = (OptionSpec("warehouse", "Code of the warehouse this WMS runs (must exist)"),)
    default_status_map: ClassVar[Mapping[str, str]] = {
        "ALLOCATED": Milestone.STOCK_LOCKED,
        "ACCEPTED": Milestone.WAREHOUSE_ACCEPTED,
        "RELEASED": Milestone.WAREHOUSE_ACCEPTED,
        "PICKING": Milestone.WAREHOUSE_ACCEPTED,
        # Picked is not yet packed: the order is still with the warehouse.
        "PICKED": Milestone.WAREHOUSE_ACCEPTED,
        "PACKED": Milestone.PICKED_PACKED,
        "LABELED": Milestone.WAYBILL_ISSUED,
        "WAYBILL": Milestone.WAYBILL_ISSUED,
        "SHIPPED": Milestone.HANDED_OVER,
        "CANCELLED": Milestone.CANCELLED,
        "RETURNED": Milestone.RETURNED,
    }


@adapters.register("erp")
class ErpAdapter(SystemFeedAdapter):
    kind = "erp"
    label = str(_("ERP (facts API)"))
    default_status_map: ClassVar[Mapping[str, str]] = {
        "PAID": Milestone.PAID,
        "APPROVED": Milestone.STOCK_LOCKED,
        "ALLOCATED": Milestone.STOCK_LOCKED,
        "SHIPPED": Milestone.HANDED_OVER,
        "CANCELLED": Milestone.CANCELLED,
        "RETURNED": Milestone.RETURNED,
    }


@adapters.register("tms")
class TmsAdapter(SystemFeedAdapter):
    kind = "tms"
    label = str(_("Transport management system (facts API)"))
    default_status_map: ClassVar[Mapping[str, str]] = {
        "WAYBILL": Milestone.WAYBILL_ISSUED,
        "HANDED_OVER": Milestone.HANDED_OVER,
        "PICKED_UP": Milestone.COLLECTED,
        "COLLECTED": Milestone.COLLECTED,
        "IN_TRANSIT": Milestone.COLLECTED,
        "DELIVERED": Milestone.DELIVERED,
        "RETURNED": Milestone.RETURNED,
    }
