from django.urls import path

from health.alerts import views

app_name = "alerts"

urlpatterns = [
    path("ack/<str:token>/", views.incident_ack, name="ack"),
]
