import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")

django_application = get_wsgi_application()

# Webhook deliveries are answered by the intake edge; every other request by Django.
from channels_app.edge import hooks_edge  # noqa: E402 - needs the configured apps

application = hooks_edge(django_application)
