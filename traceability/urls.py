from django.urls import path

from traceability import views

app_name = "traceability"

urlpatterns = [
    path("", views.trace_search, name="trace_search"),
    path("order/<int:order_id>/", views.trace_detail, name="trace_detail"),
    path("order/<int:order_id>/pdf/", views.trace_pdf, name="trace_pdf"),
    path("ledger/public-key.pem", views.ledger_public_key, name="ledger_public_key"),
]
