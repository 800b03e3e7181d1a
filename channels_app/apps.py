from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def builtin_mappings_sync(sender: AppConfig, *, apps: Any = None, **kwargs: Any) -> None:
    """After ``migrate`` (and a test database's flush): store the adapters' default status maps
    as built-in mapping rows. Skipped while the mapping table lacks its ``source`` column (a
    migrate to an older state)."""
    if apps is not None:
        try:
            model = apps.get_model("channels_app", "StatusMapping")
        except LookupError:
            return
        if "source" not in {field.name for field in model._meta.get_fields()}:
            return
    from channels_app.services.mapping import status_mappings_builtin_sync

    status_mappings_builtin_sync()


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
        from channels_app.outbound import (
            shop_writers,  # noqa: F401 - registers the writers
            wms_writers,  # noqa: F401 - registers the WMS writer
        )
        from channels_app.outbound import tasks as outbound_tasks  # noqa: F401 - Celery tasks
        from channels_app.outbound.courier_writers import (
            subscribe_fact_hook,
            subscribe_transition_hook,
        )
        from channels_app.outbound.hooks import writeback_hook
        from channels_app.pull import courier_poll  # noqa: F401 - Celery task
        from channels_app.pull import tasks as pull_tasks  # noqa: F401 - Celery tasks
        from channels_app.services.system_facts import system_facts_waiting_apply
        from orderhub.hooks import fact_hooks, transition_hooks
        from orderhub.services.orders import order_created_hooks

        transition_hooks.add("channels.writeback", writeback_hook)
        # Waybills subscribed at Kuaidi100 (an enabled kuaidi100 account with a key).
        transition_hooks.add("channels.courier_subscribe", subscribe_transition_hook)
        fact_hooks.add("channels.courier_subscribe", subscribe_fact_hook)
        # Facts the facts API kept for orders not known yet apply when the order is created.
        order_created_hooks.add("channels.system_facts_waiting", system_facts_waiting_apply)

        post_migrate.connect(
            builtin_mappings_sync, sender=self, dispatch_uid="channels.builtin_mappings_sync"
        )
