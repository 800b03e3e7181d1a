"""The default alert rules. The migration ``0002_default_rules`` created them; after every
``migrate`` the missing ones are created again (a test run that empties the tables, a
database restored without them). To silence a default rule, disable it: deleting it brings
it back on the next migrate. Existing rules are never changed here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "code": "health-daily-below-85",
        "name": "Daily health below 85",
        "metric": "health_score_daily",
        "comparator": "lt",
        "threshold": Decimal("85"),
        "window_minutes": 1440,
        "hold_for_minutes": 0,
        "audience": "Ops supervisor (WeCom)",
        "severity": "warning",
        "escalation": [{"after_minutes": 120, "notifiers": []}],
    },
    {
        "code": "orders-without-tracking-2h",
        "name": "More than 50 orders without tracking for 2 hours",
        "metric": "orders_without_tracking",
        "comparator": "gt",
        "threshold": Decimal("50"),
        "window_minutes": 120,
        "hold_for_minutes": 0,
        "audience": "Warehouse manager (voice call)",
        "severity": "critical",
        "escalation": [
            {"after_minutes": 30, "notifiers": []},
            {"after_minutes": 60, "notifiers": []},
        ],
    },
    {
        "code": "anomalies-escalated",
        "name": "Anomalies the automatic repair could not close",
        "metric": "anomalies_escalated",
        "comparator": "gte",
        "threshold": Decimal("1"),
        "window_minutes": 60,
        "hold_for_minutes": 0,
        "audience": "Ops supervisor and the warehouse (WeCom)",
        "severity": "warning",
        "escalation": [{"after_minutes": 30, "notifiers": []}],
    },
    {
        "code": "ghost-shipment-deadline-2h",
        "name": "Ghost shipment deadline within 2 hours",
        "metric": "ghost_shipment_deadline_within",
        "comparator": "gte",
        "threshold": Decimal("1"),
        "window_minutes": 120,
        "hold_for_minutes": 0,
        "audience": "Warehouse (WeCom / DingTalk)",
        "severity": "warning",
        "escalation": [
            {"after_minutes": 30, "notifiers": []},
            {"after_minutes": 60, "notifiers": []},
        ],
    },
]


def default_rules_sync(**kwargs: Any) -> None:
    """``post_migrate`` receiver: create the default rules that are missing (no notifier)."""
    from health.alerts.models import AlertRule

    for values in DEFAULT_RULES:
        AlertRule.objects.get_or_create(code=values["code"], defaults=values)
