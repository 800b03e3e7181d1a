from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrderHubConfig(AppConfig):
    name = "orderhub"
    label = "orderhub"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from orderhub import stock_hooks  # noqa: F401 - registers the stock transition hook
