from django.urls import path

from channels_app.views import webhook

app_name = "channels"

urlpatterns = [
    path("<str:code>/", webhook, name="webhook"),
]
