from django.urls import path

from orderhub.customers import views

app_name = "public"

urlpatterns = [
    path("c/<str:token>/", views.confirm_page, name="confirm"),
    path("o/", views.order_lookup, name="lookup"),
    path("o/<str:token>/", views.order_page, name="order"),
]
