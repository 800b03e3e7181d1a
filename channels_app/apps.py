from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Channels")

    def ready(self) -> None:
        """Every registration of the app happens here, explicitly (no module is imported
        elsewhere only for what it registers)."""
        from channels_app import (
            admin_sync,  # noqa: F401 - pulls, write-back, reconciliation
            checks,  # noqa: F401 - registers the system checks
        )
        from channels_app.adapters import ADAPTER_MODULES

        # A duplicate kind raises RegistryError here, at start-up.
        for module in ADAPTER_MODULES:
            import_module(module)
        from channels_app import trace  # noqa: F401 - registers the trace sources
        from channels_app.outbound import shop_writers  # noqa: F401 - registers the writers
        from channels_app.outbound import tasks as outbound_tasks  # noqa: F401 - Celery tasks
        from channels_app.outbound.hooks import writeback_hook
        from channels_app.pull import tasks as pull_tasks  # noqa: F401 - Celery tasks
        from orderhub.hooks import transition_hooks

        transition_hooks.add("channels.writeback", writeback_hook)
