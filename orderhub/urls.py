from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Platforms post here; outside i18n_patterns so the path never gets a language prefix.
    path("hooks/", include("channels_app.urls")),
    path("api/v1/", include("orderhub.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
urlpatterns += i18n_patterns(
    path("admin/", admin.site.urls),
    path("trace/", include("traceability.urls")),
    prefix_default_language=False,
)

admin.site.site_header = "OrderHub"
admin.site.site_title = "OrderHub"
