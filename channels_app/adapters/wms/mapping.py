"""A warehouse management system reporting its orders' progress (and stock) through the
facts API; it speaks for one warehouse.

Pure: no ORM, network or clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from channels_app.adapters.base import OptionSpec, SystemFeedAdapter, adapters
from orderhub.choices import Milestone


@adapters.register("wms")
class WmsAdapter(SystemFeedAdapter):
    kind = "wms"
    label = str(_("Warehouse management system (facts API)"))
    options = (
        OptionSpec("warehouse", "Code of the warehouse this WMS runs (must exist)"),
        OptionSpec(
            "base_url",
            "Base URL of the WMS's own API, for intercept requests (health.repairs)",
            required=False,
        ),
        OptionSpec("api_token", "Token of the WMS's API", required=False, secret=True),
    )
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
