"""AfterShip tracking webhooks.

Signature: ``aftership-hmac-sha256`` = base64(HMAC-SHA256(webhook secret, raw body)).
Body: ``{"event": "tracking_update" | ..., "event_id": "<uuid>", "ts", "msg": <tracking>}``
with the tracking's ``checkpoints[]`` (``checkpoint_time``, ``tag``, ``subtag``, ``message``,
``location``). ``event_id`` dedupes redeliveries (AfterShip retries on non-2xx). Tags: Pending,
InfoReceived, InTransit, OutForDelivery, AttemptFail, Delivered, AvailableForPickup, Exception,
Expired; sub-tags ``<Tag>_<NNN>`` are an open set and are kept as the raw sub-state.
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
from orderhub.choices import TrackingStage
from orderhub.domain import NormalizedTracking

TAG_STAGES: dict[str, str] = {
    "Pending": TrackingStage.PENDING,
    "InfoReceived": TrackingStage.INFO_RECEIVED,
    "InTransit": TrackingStage.IN_TRANSIT,
    "OutForDelivery": TrackingStage.OUT_FOR_DELIVERY,
    "AttemptFail": TrackingStage.FAILED_ATTEMPT,
    "Delivered": TrackingStage.DELIVERED,
    "AvailableForPickup": TrackingStage.AVAILABLE_FOR_PICKUP,
    "Exception": TrackingStage.EXCEPTION,
    "Expired": TrackingStage.EXPIRED,
}


@adapters.register("aftership")
class AfterShipAdapter(ChannelAdapter):
    kind = "aftership"
    label = str(_("AfterShip tracking webhook"))
    options = (
        OptionSpec("webhook_secret", "The webhook secret (Settings > Webhooks)", secret=True),
    )
    default_status_map = common.TRACKING_STAGE_MILESTONES

    def verify(self, account: AccountConfig, request: InboundRequest) -> Verified:
        given = common.header(request, "aftership-hmac-sha256")
        if not given:
            raise VerificationError("missing aftership-hmac-sha256 header")
        expected = common.hmac_sha256_b64(common.secret(account, "webhook_secret"), request.body)
        if not common.same(expected, given):
            raise VerificationError("aftership-hmac-sha256 does not match the body")
        body = common.peek_json(request.body)
        body = body if isinstance(body, dict) else {}
        event_id, kind = body.get("event_id"), body.get("event")
        return Verified(
            delivery_id=event_id[:128] if isinstance(event_id, str) else "",
            event_type=kind[:64] if isinstance(kind, str) else "",
            payload=request.body,
            response=common.json_response(200, {"ok": True}),
        )

    def normalize(self, account: AccountConfig, payload: Any) -> list[NormalizedTracking]:
        tracking = common.mapping(common.mapping(payload, "body").get("msg"), "msg")
        number = common.text(tracking.get("tracking_number"), "msg.tracking_number", max_length=64)
        carrier = common.optional_text(tracking.get("slug"), "msg.slug", max_length=64) or ""
        events = []
        checkpoints = common.sequence(tracking.get("checkpoints") or [], "msg.checkpoints")
        for index, item in enumerate(checkpoints):
            path = f"msg.checkpoints[{index}]"
            row = common.mapping(item, path)
            tag = common.optional_text(row.get("tag"), f"{path}.tag", max_length=64) or ""
            subtag = common.optional_text(row.get("subtag"), f"{path}.subtag", max_length=64)
            place = ", ".join(
                str(row[name]).strip()
                for name in ("location", "city", "state", "country_name")
                if isinstance(row.get(name), str) and row[name].strip()
            )
            events.append(
                common.tracking_event(
                    system=account.system,
                    carrier=carrier,
                    tracking_number=number,
                    occurred_at=common.iso_time(row.get("checkpoint_time"), path),
                    stage=TAG_STAGES.get(tag, TrackingStage.UNKNOWN),
                    raw_state=tag,
                    raw_substate=subtag or "",
                    description=common.optional_text(row.get("message"), f"{path}.message") or "",
                    location=place,
                )
            )
        return [
            NormalizedTracking(
                system=account.system,
                carrier=carrier,
                tracking_number=number,
                events=tuple(events),
                monitor_state=str(tracking.get("tag") or "")[:64],
            )
        ]
