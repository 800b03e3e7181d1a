from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TraceabilityConfig(AppConfig):
    name = "traceability"
    verbose_name = _("Traceability")

    def ready(self) -> None:
        # Registers the start-up checks and the built-in trace sources (ledger, facts, history).
        from traceability import checks, selectors  # noqa: F401
