from django.urls import path

from orderhub.staff import views

# Included in the language-prefixed patterns (``/orders/1/``, ``/en/orders/1/``).
urlpatterns = [
    path("orders/<int:order_id>/", views.staff_order, name="staff-order"),
    path(
        "orders/<int:order_id>/transition/<str:target>/",
        views.staff_order_transition,
        name="staff-order-transition",
    ),
    path(
        "orders/<int:order_id>/action/<str:action>/",
        views.staff_order_action,
        name="staff-order-action",
    ),
    path(
        "orders/<int:order_id>/anomalies/<int:anomaly_id>/resolve/",
        views.staff_anomaly_resolve,
        name="staff-anomaly-resolve",
    ),
    path("self-check/", views.self_check_page, name="self-check"),
]
