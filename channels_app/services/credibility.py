"""Source credibility: hold test orders, known fake buyers and bot-like bursts for review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_app.adapters.base import adapters
from channels_app.models import CredibilityAction, CredibilityRule, CredibilityRuleKind
from orderhub.domain import NormalizedOrder
from orderhub.models import Order
from orderhub.services.lifecycle import actor_label
from traceability.services import ledger_append


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


# --- The rules' writes (admin) ---

_LIST_PARAMS = ("phones", "emails", "names")
_BURST_KEYS = ("phone", "email")


def _params_errors(kind: str, params: Any) -> list[str]:
    if not isinstance(params, dict):
        return ["the parameters must be a JSON object"]
    if kind == CredibilityRuleKind.TEST_FLAG:
        return [f"a test_flag rule takes no parameter {name!r}" for name in sorted(params)]
    if kind == CredibilityRuleKind.FAKE_BUYER:
        errors = [
            f"a fake_buyer rule takes no parameter {name!r} (known: phones, emails, names)"
            for name in sorted(set(params) - set(_LIST_PARAMS))
        ]
        for name in _LIST_PARAMS:
            value = params.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(f"parameter {name!r} must be a list of strings")
        return errors
    errors = [
        f"a burst rule takes no parameter {name!r} (known: max_orders, window_seconds, key)"
        for name in sorted(set(params) - {"max_orders", "window_seconds", "key"})
    ]
    for name in ("max_orders", "window_seconds"):
        value = params.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(f"parameter {name!r} must be a whole number of at least 1")
    if params.get("key", "phone") not in _BURST_KEYS:
        errors.append("parameter 'key' must be 'phone' or 'email'")
    return errors


def credibility_rule_validate(
    *, name: str, kind: str, channel_kind: str, params: Any, action: str
) -> None:
    """Raise ``ValidationError`` naming every problem of these rule values. Never writes."""
    errors = []
    if not name.strip():
        errors.append("the rule needs a name")
    if kind not in CredibilityRuleKind.values:
        errors.append(f"unknown rule kind {kind!r}")
    else:
        errors.extend(_params_errors(kind, params))
    if channel_kind and channel_kind not in adapters:
        errors.append(f"unknown channel kind {channel_kind!r}")
    if action not in CredibilityAction.values:
        errors.append(f"unknown action {action!r}")
    if errors:
        raise ValidationError(errors)


def _rule_values(rule: CredibilityRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "channel_kind": rule.channel_kind,
        "params": rule.params,
        "enabled": rule.enabled,
        "action": rule.action,
    }


@transaction.atomic
def credibility_rule_save(
    *,
    rule_id: int | None = None,
    name: str,
    kind: str,
    channel_kind: str = "",
    params: dict[str, Any] | None = None,
    enabled: bool = True,
    action: str = CredibilityAction.QUARANTINE,
    user: Any | None = None,
    source: str = "admin",
    reason: str = "",
) -> CredibilityRule:
    """Create (``rule_id`` None) or change a credibility rule after checking its kind, channel
    kind, action and parameters. Locks the rule row; one ``credibility.rule_saved`` event with
    the values before and after, one history row. The same values again → nothing written."""
    params = {} if params is None else params
    credibility_rule_validate(
        name=name, kind=kind, channel_kind=channel_kind, params=params, action=action
    )
    values = {"name": name, "kind": kind, "channel_kind": channel_kind, "params": params,
              "enabled": enabled, "action": action}  # fmt: skip
    if rule_id is None:
        rule = CredibilityRule()
        before: dict[str, Any] = {}
    else:
        rule = CredibilityRule.objects.select_for_update().get(pk=rule_id)
        before = _rule_values(rule)
        if before == values:
            return rule
    for field_name, value in values.items():
        setattr(rule, field_name, value)
    rule._history_user = user  # type: ignore[attr-defined]
    rule._change_reason = reason or None  # type: ignore[attr-defined]
    rule.save()
    ledger_append(
        action="credibility.rule_saved",
        actor=actor_label(user, source),
        subject_type="credibility_rule",
        subject_id=rule.pk,
        before=before,
        after=_rule_values(rule),
        references={"reason": reason},
    )
    return rule


@transaction.atomic
def credibility_rule_delete(
    *, rule_id: int, user: Any | None = None, source: str = "admin", reason: str = ""
) -> None:
    """Delete a rule (simple-history keeps its last values); one ``credibility.rule_deleted``
    event with them. Locks the rule row."""
    rule = CredibilityRule.objects.select_for_update().get(pk=rule_id)
    before = _rule_values(rule)
    rule._history_user = user  # type: ignore[attr-defined]
    rule._change_reason = reason or None  # type: ignore[attr-defined]
    rule.delete()
    ledger_append(
        action="credibility.rule_deleted",
        actor=actor_label(user, source),
        subject_type="credibility_rule",
        subject_id=rule_id,
        before=before,
        references={"reason": reason},
    )
