"""Customer fulfilment credit: a score from payment punctuality, order frequency, return rate
and abusive returns, weighted by the admin-edited ``CreditPolicy``, and its tier.

Components, each in [0, 1]:
- punctuality: mean over paid orders of ``max(0, 1 - hours(placed → paid) / 24)``; 0.5 without
  a paid order;
- frequency: ``min(1, orders placed in the last 365 days / 12)``;
- returns: ``1 - returned / (delivered + returned)``; 1 without a delivered order;
- abuse: ``max(0, 1 - abusive_returns / 3)``.
Score = 100 * Σ weight * component / Σ weights, rounded half-up to 2 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction

from orderhub.choices import Milestone
from orderhub.customers.choices import CreditTier
from orderhub.customers.models import CreditPolicy, CustomerProfile
from orderhub.models import Customer, Order
from traceability.services import ledger_append

CENT = Decimal("0.01")
POLICY_FIELDS = (
    "weight_punctuality",
    "weight_frequency",
    "weight_returns",
    "weight_abuse",
    "key_account_min",
    "standard_min",
    "abuse_flag_at",
)


@dataclass(frozen=True, slots=True)
class CreditComponents:
    punctuality: Decimal
    frequency: Decimal
    returns: Decimal
    abuse: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "punctuality": str(self.punctuality),
            "frequency": str(self.frequency),
            "returns": str(self.returns),
            "abuse": str(self.abuse),
        }


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def credit_policy_get() -> CreditPolicy:
    policy, _created = CreditPolicy.objects.get_or_create(pk=1)
    return policy


def credit_components(*, customer_id: int, abusive_returns: int, now: datetime) -> CreditComponents:
    orders = list(
        Order.objects.filter(customer_id=customer_id).values_list("placed_at", "paid_at", "status")
    )
    delays = [
        Decimal(max(0.0, 1 - (paid - placed).total_seconds() / 86400))
        for placed, paid, _s in orders
        if placed is not None and paid is not None and paid >= placed
    ]
    punctuality = _q(sum(delays, Decimal(0)) / len(delays)) if delays else Decimal("0.5")
    recent = sum(1 for placed, _p, _s in orders if placed and placed >= now - timedelta(days=365))
    frequency = _q(min(Decimal(1), Decimal(recent) / 12))
    returned = sum(1 for *_x, status in orders if status == Milestone.RETURNED)
    delivered = sum(1 for *_x, status in orders if status == Milestone.DELIVERED)
    returns = (
        _q(1 - Decimal(returned) / (delivered + returned)) if delivered + returned else Decimal(1)
    )
    abuse = _q(max(Decimal(0), 1 - Decimal(abusive_returns) / 3))
    return CreditComponents(punctuality, frequency, returns, abuse)


def credit_score(components: CreditComponents, policy: CreditPolicy) -> Decimal:
    weights = (
        (Decimal(policy.weight_punctuality), components.punctuality),
        (Decimal(policy.weight_frequency), components.frequency),
        (Decimal(policy.weight_returns), components.returns),
        (Decimal(policy.weight_abuse), components.abuse),
    )
    total = sum((w for w, _c in weights), Decimal(0))
    if total <= 0:
        return Decimal("0.00")
    weighted = sum((w * c for w, c in weights), Decimal(0))
    return (100 * weighted / total).quantize(CENT, rounding=ROUND_HALF_UP)


def credit_tier(score: Decimal, policy: CreditPolicy) -> str:
    if score >= policy.key_account_min:
        return CreditTier.KEY_ACCOUNT
    if score >= policy.standard_min:
        return CreditTier.STANDARD
    return CreditTier.UNDER_REVIEW


@transaction.atomic
def customer_credit_refresh(*, customer_id: int, now: datetime) -> CustomerProfile:
    """Recompute one customer's score and tier; a tier change is a ledger event."""
    Customer.objects.select_for_update().get(pk=customer_id)
    profile, _created = CustomerProfile.objects.select_for_update().get_or_create(
        customer_id=customer_id
    )
    policy = credit_policy_get()
    components = credit_components(
        customer_id=customer_id, abusive_returns=profile.abusive_returns, now=now
    )
    score = credit_score(components, policy)
    tier = credit_tier(score, policy)
    before = {"score": str(profile.score), "tier": profile.tier}
    profile.score, profile.components, profile.computed_at = score, components.as_json(), now
    changed = profile.tier != tier
    profile.tier = tier
    profile.save()
    if changed:
        ledger_append(
            action="customer.tier_changed",
            actor="system",
            subject_type="customer",
            subject_id=customer_id,
            source_system="credit",
            before=before,
            after={"score": str(score), "tier": tier},
        )
    return profile


def customers_credit_refresh(*, now: datetime) -> int:
    """Recompute every customer; returns how many."""
    count = 0
    for customer_id in Customer.objects.order_by("pk").values_list("pk", flat=True):
        customer_credit_refresh(customer_id=customer_id, now=now)
        count += 1
    return count


def credit_preview(*, values: dict[str, Any], now: datetime) -> dict[str, int]:
    """How many customers would change tier under a policy with ``values`` (nothing saved):
    ``{"customers": n, "changed": n, "<tier>": n after}``."""
    policy = CreditPolicy(**{name: values[name] for name in POLICY_FIELDS})
    result: dict[str, int] = {"customers": 0, "changed": 0, **{t: 0 for t in CreditTier.values}}
    profiles = {p.customer_id: p for p in CustomerProfile.objects.all()}
    for customer_id in Customer.objects.order_by("pk").values_list("pk", flat=True):
        profile = profiles.get(customer_id)
        abusive = profile.abusive_returns if profile else 0
        current = profile.tier if profile else CreditTier.STANDARD
        score = credit_score(
            credit_components(customer_id=customer_id, abusive_returns=abusive, now=now), policy
        )
        tier = credit_tier(score, policy)
        result["customers"] += 1
        result[tier] += 1
        if tier != current:
            result["changed"] += 1
    return result


@transaction.atomic
def credit_policy_save(*, values: dict[str, Any], user: Any | None, now: datetime) -> CreditPolicy:
    """Save the policy (history row with the user), ledger event, recompute every customer."""
    policy = CreditPolicy.objects.select_for_update().filter(pk=1).first() or credit_policy_get()
    before = {name: str(getattr(policy, name)) for name in POLICY_FIELDS}
    for name in POLICY_FIELDS:
        setattr(policy, name, values[name])
    policy._history_user = user  # type: ignore[attr-defined]  # read by simple-history
    policy.save()
    after = {name: str(getattr(policy, name)) for name in POLICY_FIELDS}
    if before != after:
        ledger_append(
            action="customer.credit_policy_saved",
            actor=user.get_username() if user is not None else "system",
            subject_type="credit_policy",
            subject_id=1,
            source_system="admin",
            before=before,
            after=after,
        )
    customers_credit_refresh(now=now)
    return policy


@transaction.atomic
def customer_abuse_record(*, customer_id: int, user: Any | None, reason: str, now: datetime) -> int:
    """Count one more abusive return for the customer (ledger event); returns the count."""
    profile, _created = CustomerProfile.objects.select_for_update().get_or_create(
        customer_id=customer_id
    )
    profile.abusive_returns += 1
    profile.save(update_fields=["abusive_returns"])
    ledger_append(
        action="customer.abusive_return",
        actor=user.get_username() if user is not None else "system",
        subject_type="customer",
        subject_id=customer_id,
        source_system="admin",
        before={"abusive_returns": profile.abusive_returns - 1},
        after={"abusive_returns": profile.abusive_returns},
        references={"reason": reason},
    )
    customer_credit_refresh(customer_id=customer_id, now=now)
    return profile.abusive_returns


@transaction.atomic
def customer_wechat_set(*, customer_id: int, openid: str, user: Any | None) -> CustomerProfile:
    """Set the customer's WeChat openid (where confirmations are sent); ledger event."""
    profile, _created = CustomerProfile.objects.select_for_update().get_or_create(
        customer_id=customer_id
    )
    openid = openid.strip()
    if profile.wechat_openid == openid:
        return profile
    before = profile.wechat_openid
    profile.wechat_openid = openid
    profile.save(update_fields=["wechat_openid"])
    ledger_append(
        action="customer.wechat_set",
        actor=user.get_username() if user is not None else "system",
        subject_type="customer",
        subject_id=customer_id,
        source_system="admin",
        before={"wechat_openid": before},
        after={"wechat_openid": openid},
    )
    return profile
