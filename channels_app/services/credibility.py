"""Source credibility: hold test orders, known fake buyers and bot-like bursts for review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from channels_app.models import CredibilityRule, CredibilityRuleKind
from orderhub.domain import NormalizedOrder
from orderhub.models import Order


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def _fake_buyer(rule: CredibilityRule, order: NormalizedOrder) -> str:
    params = rule.params or {}
    phones = {_digits(str(p)) for p in params.get("phones", [])} - {""}
    emails = {_norm(str(e)) for e in params.get("emails", [])} - {""}
    names = {_norm(str(n)) for n in params.get("names", [])} - {""}
    for phone in (order.buyer_phone, order.receiver_phone):
        if _digits(phone) and _digits(phone) in phones:
            return f"known fake buyer phone (rule {rule.name!r})"
    if _norm(order.buyer_email) and _norm(order.buyer_email) in emails:
        return f"known fake buyer e-mail (rule {rule.name!r})"
    for name in (order.buyer_name, order.receiver_name):
        if _norm(name) and _norm(name) in names:
            return f"known fake buyer name (rule {rule.name!r})"
    return ""


@dataclass
class PendingOrders:
    """Orders accepted earlier in the same transaction, not stored yet: a burst counts them."""

    new_keys: set[tuple[str, str]] = field(default_factory=set)
    accepted: dict[tuple[str, str], NormalizedOrder] = field(default_factory=dict)

    def accept(self, orders: list[NormalizedOrder]) -> None:
        for order in orders:
            self.accepted.setdefault((order.channel, order.external_id), order)

    def matching_new(self, order: NormalizedOrder, *, key: str) -> int:
        count = 0
        for order_key, other in self.accepted.items():
            if order_key not in self.new_keys or order_key == (order.channel, order.external_id):
                continue
            if key == "email":
                count += _norm(other.buyer_email) == _norm(order.buyer_email)
            else:
                phone = order.buyer_phone or order.receiver_phone
                count += phone in (other.buyer_phone, other.receiver_phone)
        return count


def _burst(rule: CredibilityRule, order: NormalizedOrder, pending: PendingOrders) -> str:
    params = rule.params or {}
    max_orders = int(params.get("max_orders", 20))
    window = int(params.get("window_seconds", 60))
    key = params.get("key", "phone")
    order_key = (order.channel, order.external_id)
    if order_key in pending.accepted:
        return ""  # named by a message accepted earlier in this transaction: an update
    if Order.objects.filter(channel=order.channel, external_id=order.external_id).exists():
        return ""  # an update of a known order is never a burst
    pending.new_keys.add(order_key)
    since = timezone.now() - timedelta(seconds=window)
    if key == "email":
        if not order.buyer_email:
            return ""
        match = Q(buyer_email__iexact=order.buyer_email)
    else:
        phone = order.buyer_phone or order.receiver_phone
        if not phone:
            return ""
        match = Q(buyer_phone=phone) | Q(receiver_phone=phone)
    recent = Order.objects.filter(match, created_at__gte=since).count()
    recent += pending.matching_new(order, key=key)
    if recent >= max_orders:
        return (
            f"bot-like burst: {recent} orders by the same {key} within {window} s "
            f"(rule {rule.name!r})"
        )
    return ""


def credibility_rules_for(*, kind: str) -> list[CredibilityRule]:
    """The enabled rules that apply to messages of one channel kind."""
    return list(
        CredibilityRule.objects.filter(enabled=True)
        .filter(Q(channel_kind="") | Q(channel_kind=kind))
        .order_by("kind", "pk")
    )


def credibility_reason(
    *,
    kind: str,
    orders: list[NormalizedOrder],
    rules: list[CredibilityRule] | None = None,
    pending: PendingOrders | None = None,
) -> str:
    """The reason to hold a message, or '' when every order passes every enabled rule.

    ``pending``: the orders of messages accepted earlier in the same transaction (processing
    a batch); the caller adds this message's orders to it when it accepts them.
    """
    pending = pending if pending is not None else PendingOrders()
    if rules is None:
        rules = credibility_rules_for(kind=kind)
    for order in orders:
        for rule in rules:
            if rule.kind == CredibilityRuleKind.TEST_FLAG:
                reason = f"test order flagged by the platform (rule {rule.name!r})" * order.is_test
            elif rule.kind == CredibilityRuleKind.FAKE_BUYER:
                reason = _fake_buyer(rule, order)
            else:
                reason = _burst(rule, order, pending)
            if reason:
                return f"{order.external_id}: {reason}"
    return ""
