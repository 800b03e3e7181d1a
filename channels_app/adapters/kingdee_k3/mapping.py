"""Kingdee K/3 (or any ERP) through an intermediate table, read from a second database.

The poller stores one inbox message per row version, ``{"row": {...}}`` with the columns
``fid, fchannel, fbillno, fstatus, fcarrier, flogisticsno, fmodifytime, frowversion``:
``fchannel`` is the OrderHub account code the order came through and ``fbillno`` the
channel's order id, so the ERP's statement lands on the same canonical order. One fact per
row version: ``fstatus`` at ``fmodifytime``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from channels_app.adapters import common
from channels_app.adapters.base import (
    AccountConfig,
    ChannelAdapter,
    InboundRequest,
    OptionSpec,
    VerificationError,
    Verified,
    adapters,
)
from orderhub.choices import Milestone
from orderhub.domain import NormalizedOrder, StatusFactIn

DEFAULT_TABLE = "t_orderhub_order_sync"
DEFAULT_WRITEBACK_TABLE = "t_orderhub_writeback"


@adapters.register("kingdee_k3")
class KingdeeK3Adapter(ChannelAdapter):
    kind = "kingdee_k3"
    label = str(_("Kingdee K/3 intermediate table (pulled)"))
    options = (
        OptionSpec("dsn", "PostgreSQL DSN of the ERP's intermediate database", secret=True),
        OptionSpec("table", f"Table read (default {DEFAULT_TABLE})", required=False),
        OptionSpec(
            "writeback_table", f"Table written (default {DEFAULT_WRITEBACK_TABLE})", required=False
        ),
        OptionSpec("page_size", "Rows per page (default 500)", required=False),
        OptionSpec(
            "overlap_seconds", "Re-read window behind the watermark (default 300)", required=False
        ),
    )
    default_status_map = {
        "PICKING": Milestone.WAREHOUSE_ACCEPTED,
        "PACKED": Milestone.PICKED_PACKED,
        "WAYBILL": Milestone.WAYBILL_ISSUED,
        "OUTSTOCK": Milestone.HANDED_OVER,
        "CANCELLED": Milestone.CANCELLED,
    }

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        raise VerificationError("kingdee_k3 accounts are read from a table; there is no webhook")

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedOrder]:
        row = common.mapping(common.mapping(payload, "body").get("row"), "row")
        at = common.iso_time(row.get("fmodifytime"), "row.fmodifytime")
        return [
            NormalizedOrder(
                channel=common.text(row.get("fchannel"), "row.fchannel", max_length=64),
                external_id=common.text(row.get("fbillno"), "row.fbillno", max_length=128),
                carrier=common.optional_text(row.get("fcarrier"), "row.fcarrier", max_length=64),
                tracking_number=common.optional_text(
                    row.get("flogisticsno"), "row.flogisticsno", max_length=64
                ),
                facts=(
                    StatusFactIn(
                        account.system,
                        common.text(row.get("fstatus"), "row.fstatus", max_length=64),
                        None,
                        at,
                    ),
                ),
            )
        ]
