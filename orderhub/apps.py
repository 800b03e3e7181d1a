from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrderHubConfig(AppConfig):
    name = "orderhub"
    label = "orderhub"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from orderhub import display_time

        display_time.install()

        from orderhub.hooks import transition_hooks
        from orderhub.stock_hooks import stock_hook

        transition_hooks.add("orderhub.stock", stock_hook)

        from orderhub.allocation.hooks import allocation_hook
        from orderhub.allocation.trace import allocation_trace
        from traceability.selectors import trace_sources

        transition_hooks.add("orderhub.allocation", allocation_hook)
        trace_sources.add("orderhub.allocation", allocation_trace)

        from orderhub.security import connect_receivers

        connect_receivers()
