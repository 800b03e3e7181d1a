"""A transport management system reporting hand-over and carriage through the facts API.

Pure: no ORM, network or clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from channels_app.adapters.base import SystemFeedAdapter, adapters
from orderhub.choices import Milestone


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
