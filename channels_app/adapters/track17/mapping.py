"""17TRACK (v2.2) tracking webhooks.

Body: ``{"event": "TRACKING_UPDATED" | "TRACKING_STOPPED", "data": {"number", "carrier",
"track_info": {"latest_status", "latest_event", "tracking": {"providers": [{"provider",
"events": [{"time_iso", "time_utc", "description", "location", "stage", "sub_status"}]}]}}}}``.
Signature: header ``sign`` = hex SHA-256 of the raw body, ``/`` and the account's security key.
Main statuses: NotFound, InfoReceived, InTransit, Expired, AvailableForPickup, OutForDelivery,
DeliveryFailure, Delivered, Exception; sub-statuses ``<Main>_<Detail>`` (``InTransit_PickedUp``,
``Exception_Returning``) are kept as the raw sub-state.
"""

from __future__ import annotations

import hashlib
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
from orderhub.choices import TrackingStage
from orderhub.domain import NormalizedTracking, TrackingEventIn

MAIN_STAGES: dict[str, str] = {
    "NotFound": TrackingStage.PENDING,
    "InfoReceived": TrackingStage.INFO_RECEIVED,
    "InTransit": TrackingStage.IN_TRANSIT,
    "Expired": TrackingStage.EXPIRED,
    "AvailableForPickup": TrackingStage.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": TrackingStage.OUT_FOR_DELIVERY,
    "DeliveryFailure": TrackingStage.FAILED_ATTEMPT,
    "Delivered": TrackingStage.DELIVERED,
    "Exception": TrackingStage.EXCEPTION,
}
SUB_STAGES: dict[str, str] = {
    "Exception_Returning": TrackingStage.RETURNING,
    "Exception_Returned": TrackingStage.RETURNED,
}


def track17_sign(body: bytes, key: str) -> str:
    """Hex SHA-256 of ``body + "/" + key``: the ``sign`` header of a 17TRACK push."""
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


@adapters.register("track17")
class Track17Adapter(ChannelAdapter):
    kind = "track17"
    label = str(_("17TRACK tracking webhook"))
    options = (
        OptionSpec("security_key", "The API security key (signs the webhooks)", secret=True),
    )
    default_status_map = common.TRACKING_STAGE_MILESTONES

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        given = common.header(request, "sign")
        if not given:
            raise VerificationError("missing sign header")
        expected = track17_sign(request.body, common.secret(account, "security_key"))
        if not common.same(expected, given.lower()):
            raise VerificationError("sign does not match sha256(body + '/' + key)")
        body = common.peek_json(request.body)
        kind = body.get("event") if isinstance(body, dict) else None
        return Verified(
            delivery_id="",
            event_type=kind[:64] if isinstance(kind, str) else "",
            payload=request.body,
            response=common.json_response(200, {"code": 0}),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedTracking]:
        data = common.mapping(common.mapping(payload, "body").get("data"), "data")
        number = common.text(data.get("number"), "data.number", max_length=64)
        carrier = common.optional_text(data.get("carrier"), "data.carrier", max_length=64) or ""
        info = data.get("track_info") or {}
        providers = common.mapping(info, "data.track_info").get("tracking") or {}
        events: list[TrackingEventIn] = []
        rows = common.sequence(
            common.mapping(providers, "data.track_info.tracking").get("providers") or [],
            "data.track_info.tracking.providers",
        )
        for p_index, provider in enumerate(rows):
            p_path = f"data.track_info.tracking.providers[{p_index}]"
            items = common.sequence(common.mapping(provider, p_path).get("events") or [], p_path)
            for index, item in enumerate(items):
                path = f"{p_path}.events[{index}]"
                row = common.mapping(item, path)
                sub = common.optional_text(
                    row.get("sub_status"), f"{path}.sub_status", max_length=64
                )
                main = (sub or "").split("_", 1)[0] or (
                    common.optional_text(row.get("stage"), f"{path}.stage", max_length=64) or ""
                )
                stage = SUB_STAGES.get(sub or "") or MAIN_STAGES.get(main, TrackingStage.UNKNOWN)
                events.append(
                    common.tracking_event(
                        system=account.system,
                        carrier=carrier,
                        tracking_number=number,
                        occurred_at=common.iso_time(
                            row.get("time_iso") or row.get("time_utc"), path
                        ),
                        stage=stage,
                        raw_state=main,
                        raw_substate=sub or "",
                        description=common.optional_text(
                            row.get("description"), f"{path}.description"
                        )
                        or "",
                        location=common.optional_text(row.get("location"), f"{path}.location")
                        or "",
                    )
                )
        latest = common.mapping(info, "data.track_info").get("latest_status") or {}
        status = latest.get("status") if isinstance(latest, dict) else ""
        return [
            NormalizedTracking(
                system=account.system,
                carrier=carrier,
                tracking_number=number,
                events=tuple(events),
                monitor_state=str(payload.get("event") or status or "")[:64],
            )
        ]
