from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "health.alerts"
    label = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from health.alerts import builtin_metrics  # noqa: F401
        from health.alerts.defaults import default_rules_sync
        from health.alerts.notifiers import email, robots, voice, webhook  # noqa: F401

        post_migrate.connect(default_rules_sync, sender=self)
