from django.urls import path

from orderhub.allocation import views

app_name = "allocation"

urlpatterns = [
    path("", views.warehouse_list, name="warehouses"),
    path("<str:code>/offers/", views.warehouse_offers, name="offers"),
    path("<str:code>/claims/", views.warehouse_claim, name="claim"),
]
