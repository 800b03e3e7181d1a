from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "orderhub.customers"
    label = "customers"
    verbose_name = _("Customers")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orderhub.customers.hooks import customer_created_hook, customer_transition_hook
        from orderhub.hooks import transition_hooks
        from orderhub.services.orders import order_created_hooks

        transition_hooks.add("customers.confirmation_and_fast_lane", customer_transition_hook)
        order_created_hooks.add("customers.risk_review", customer_created_hook)
