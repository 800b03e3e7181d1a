"""Indexes the health score's windows read on the order app's tables: status facts by the
time OrderHub received them, orders by the time they were handed to a courier. Plain SQL in
this app's migration (the order app's models do not change); names prefixed ``health_``."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0004_board_reviews_feedback_weights"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS health_statusfact_received_idx "
            "ON orderhub_statusfact (received_at)",
            "DROP INDEX IF EXISTS health_statusfact_received_idx",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS health_order_shipped_idx "
            "ON orderhub_order (shipped_at) WHERE shipped_at IS NOT NULL",
            "DROP INDEX IF EXISTS health_order_shipped_idx",
        ),
    ]
