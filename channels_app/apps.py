from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from channels_app import checks  # noqa: F401 - registers the system checks
        from channels_app.adapters import ADAPTER_MODULES

        # A duplicate kind raises RegistryError here, at start-up.
        for module in ADAPTER_MODULES:
            import_module(module)
        from channels_app import trace  # noqa: F401 - registers the trace sources
        from channels_app.outbound import hooks  # noqa: F401
        from channels_app.services import system_facts  # noqa: F401 - registers its hook
