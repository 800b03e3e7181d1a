from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = _("Health")

    def ready(self) -> None:
        from health.rules import customs, facts, shipping, stock  # noqa: F401
        from health.services import health_fact_hook, health_transition_hook, rule_settings_sync
        from health.trace import anomaly_entries
        from orderhub.hooks import fact_hooks, transition_hooks
        from traceability.selectors import trace_sources

        fact_hooks.add("health.rules", health_fact_hook)
        transition_hooks.add("health.rules", health_transition_hook)
        trace_sources.add("health.anomalies", anomaly_entries)
        post_migrate.connect(rule_settings_sync, sender=self)
