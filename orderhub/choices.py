from django.db import models
from django.utils.translation import gettext_lazy as _


class Milestone(models.TextChoices):
    """The canonical order status vocabulary: each value asserts exactly one fact."""

    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    STOCK_LOCKED = "stock_locked", _("Stock locked")
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("Awaiting confirmation")
    WAREHOUSE_ACCEPTED = "warehouse_accepted", _("Warehouse accepted")
    PICKED_PACKED = "picked_packed", _("Picked and packed")
    WAYBILL_ISSUED = "waybill_issued", _("Waybill issued")
    HANDED_OVER = "handed_over", _("Handed over to courier")
    COLLECTED = "collected", _("Collected by carrier")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")
    RETURNED = "returned", _("Returned")


# The forward path. awaiting_confirmation is optional: skipped unless a fact asks for it.
FORWARD_PATH: tuple[str, ...] = (
    Milestone.PLACED,
    Milestone.PAID,
    Milestone.STOCK_LOCKED,
    Milestone.AWAITING_CONFIRMATION,
    Milestone.WAREHOUSE_ACCEPTED,
    Milestone.PICKED_PACKED,
    Milestone.WAYBILL_ISSUED,
    Milestone.HANDED_OVER,
    Milestone.COLLECTED,
    Milestone.DELIVERED,
)
FORWARD_RANK: dict[str, int] = {milestone: rank for rank, milestone in enumerate(FORWARD_PATH)}
TERMINAL = frozenset({Milestone.DELIVERED, Milestone.CANCELLED, Milestone.RETURNED})
# A parcel that has left the warehouse can no longer be cancelled, only returned.
CANCELLABLE = frozenset(FORWARD_PATH[: FORWARD_RANK[Milestone.HANDED_OVER]])
RETURNABLE = frozenset({Milestone.HANDED_OVER, Milestone.COLLECTED, Milestone.DELIVERED})


class OrderType(models.TextChoices):
    NORMAL = "normal", _("Normal")
    CUSTOM = "custom", _("Custom-made")
    CROSS_BORDER = "cross_border", _("Cross-border")
    PRESALE = "presale", _("Pre-sale")


class Priority(models.IntegerChoices):
    LOW = 0, _("Low")
    NORMAL = 1, _("Normal")
    HIGH = 2, _("High")
    KEY_ACCOUNT = 3, _("Key account")


class FactOutcome(models.TextChoices):
    """What applying a status fact did to the order."""

    ADVANCED = "advanced", _("Advanced the order")
    SKIPPED_AHEAD = "skipped_ahead", _("Advanced, skipping milestones")
    CONFIRMED = "confirmed", _("Confirmed the current status")
    LATE = "late", _("Late or out of order: status kept")
    CONFLICT = "conflict", _("Conflicts with the current status")
    UNMAPPED = "unmapped", _("Raw status has no mapping")
    PENDING = "pending", _("Not applied yet")


class TrackingStage(models.TextChoices):
    """One tracking taxonomy for every courier feed (after the AfterShip / 17TRACK / Kuaidi100
    tags). Tracking stages describe the parcel's journey; they are events, not order statuses.
    """

    PENDING = "pending", _("No information yet")
    INFO_RECEIVED = "info_received", _("Info received (label created, awaiting pickup)")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    AVAILABLE_FOR_PICKUP = "available_for_pickup", _("Available for pickup")
    FAILED_ATTEMPT = "failed_attempt", _("Delivery attempt failed")
    EXCEPTION = "exception", _("Exception")
    DELIVERED = "delivered", _("Delivered")
    RETURNING = "returning", _("Returning to sender")
    RETURNED = "returned", _("Returned to sender")
    EXPIRED = "expired", _("Tracking expired")
    UNKNOWN = "unknown", _("Unknown provider state")


# Stages that prove the carrier's own network had the parcel in hand (揽收 or later).
CARRIER_SCANNED = frozenset(
    {
        TrackingStage.IN_TRANSIT,
        TrackingStage.OUT_FOR_DELIVERY,
        TrackingStage.AVAILABLE_FOR_PICKUP,
        TrackingStage.FAILED_ATTEMPT,
        TrackingStage.DELIVERED,
        TrackingStage.RETURNING,
        TrackingStage.RETURNED,
    }
)

# Courier states that void a waybill (the label is cancelled; no parcel travels on it), as
# ``<feed kind>:<raw sub-state>``: Kuaidi100's 401 已销单 comes under base state 4 (退签), so
# its stage is ``returned``, but it is neither a scan nor a return of the parcel.
VOIDED_WAYBILL_STATES = frozenset({"kuaidi100:401"})
