"""An ERP reporting approvals and shipments through the facts API, for every warehouse or
one.

Pure: no ORM, network or clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from channels_app.adapters.base import SystemFeedAdapter, adapters
from orderhub.choices import Milestone


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
