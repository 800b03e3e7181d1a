from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "health.alerts"
    label = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from health.alerts import builtin_metrics  # noqa: F401
        from health.alerts.notifiers import email, robots, voice, webhook  # noqa: F401
