"""The allocation transition hook (added to ``orderhub.hooks.transition_hooks`` in
``OrderHubConfig.ready()``): runs inside the transitions' transaction, writes rows, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from orderhub.allocation import services
from orderhub.choices import Milestone
from orderhub.hooks import TransitionEvent

# Reached once the warehouse picked: the lock holds for good from then on.
_PICKED_OR_LATER = {
    Milestone.PICKED_PACKED,
    Milestone.WAYBILL_ISSUED,
    Milestone.HANDED_OVER,
    Milestone.COLLECTED,
    Milestone.DELIVERED,
}
_ENDED = {Milestone.CANCELLED, Milestone.RETURNED}


def allocation_hook(events: Sequence[TransitionEvent]) -> None:
    """Offer orders that reached ``stock_locked``; withdraw the offers of orders that left a
    claimable status; pin the locks of picked orders; end the locks of ended orders."""
    offer = [e.order.id for e in events if e.after == Milestone.STOCK_LOCKED]
    # An order sent to its customer for confirmation waits for the answer: no warehouse may
    # take it until the customer confirms (``confirmation_confirm`` offers it again).
    leave = [
        e.order.id
        for e in events
        if e.before in services.CLAIMABLE
        and (e.after not in services.CLAIMABLE or e.after == Milestone.AWAITING_CONFIRMATION)
    ]
    picked = [e.order.id for e in events if e.after in _PICKED_OR_LATER]
    ended = [e.order.id for e in events if e.after in _ENDED]
    if leave:
        services.offers_withdraw(order_ids=leave)
    if picked:
        services.allocations_mark_picked(order_ids=picked)
    if ended:
        services.allocations_end_for_orders(order_ids=ended, reason="order ended")
    # An order may pass stock_locked and move on in one flush: offer only those still there.
    still = set(offer) - set(leave)
    if still:
        services.offers_open(order_ids=still)
