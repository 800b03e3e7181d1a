"""Pure helpers shared by the courier-feed adapters (Kuaidi100, 17TRACK, AfterShip).

A courier feed reports waybills, not orders: its adapter returns ``NormalizedTracking``
items whose events carry the provider's raw state and sub-state beside one canonical
``TrackingStage``. Which order milestone a stage stands for is data (the editable status
mapping of the kind); ``STAGE_MILESTONES`` are the shipped defaults: ``collected`` for any
stage that proves a carrier scan, ``delivered`` at the signature, ``returned`` when the
parcel is back with the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from orderhub.choices import Milestone, TrackingStage
from orderhub.domain import TrackingEventIn

STAGE_MILESTONES: Mapping[str, str] = {
    TrackingStage.IN_TRANSIT: Milestone.COLLECTED,
    TrackingStage.OUT_FOR_DELIVERY: Milestone.COLLECTED,
    TrackingStage.AVAILABLE_FOR_PICKUP: Milestone.COLLECTED,
    TrackingStage.FAILED_ATTEMPT: Milestone.COLLECTED,
    TrackingStage.RETURNING: Milestone.COLLECTED,
    TrackingStage.DELIVERED: Milestone.DELIVERED,
    TrackingStage.RETURNED: Milestone.RETURNED,
}


def event(
    *,
    system: str,
    carrier: str,
    tracking_number: str,
    occurred_at: datetime,
    stage: str,
    raw_state: str,
    raw_substate: str = "",
    description: str = "",
    location: str = "",
) -> TrackingEventIn:
    return TrackingEventIn(
        system=system,
        carrier=carrier[:64],
        tracking_number=tracking_number,
        occurred_at=occurred_at,
        stage=stage,
        raw_state=raw_state[:64],
        raw_substate=raw_substate[:64],
        description=description[:500],
        location=location[:200],
    )
