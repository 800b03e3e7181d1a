"""The default alert rules (editable data). They start with no notifier: the admin shows
"no notifier" until someone adds one, and nothing is ever sent to a made-up address."""

from decimal import Decimal

from django.db import migrations

DEFAULT_RULES = [
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


def create(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for values in DEFAULT_RULES:
        AlertRule.objects.get_or_create(code=values["code"], defaults=values)


def remove(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertRule.objects.filter(code__in=[r["code"] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
