from collections.abc import Callable

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from orderhub.security import otp_verify_view, public_rate_limit
from orderhub.staff.views import SelfCheckView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# Browsable API documentation is for staff: anyone else is sent to the admin login.
def staff_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    wrapped: Callable[..., HttpResponseBase] = staff_member_required(view, login_url="admin:login")
    return wrapped


# The login POST is rate-limited per client IP and per username (LOGIN_RATE_LIMIT), on top of
# the lockout after LOGIN_FAILURE_LIMIT failures (django-axes).
admin.site.login = public_rate_limit(  # type: ignore[method-assign,assignment]
    "admin-login", key="post:username", rate_setting="LOGIN_RATE_LIMIT", methods=("POST",)
)(admin.site.login)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Platforms post here; outside i18n_patterns so the path never gets a language prefix.
    path("hooks/", include("channels_app.urls")),
    path("api/v1/self-check/", SelfCheckView.as_view(), name="api-self-check"),
    path("api/v1/", include("orderhub.api")),
    # Customers' links (confirmation, order page): stable paths, language from the browser.
    path("", include("orderhub.customers.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/schema/swagger-ui/",
        # The split view serves its start-up code as a script file: no inline script (CSP).
        staff_only(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="schema-swagger-ui",
    ),
    path(
        "api/schema/redoc/",
        staff_only(SpectacularRedocView.as_view(url_name="schema")),
        name="schema-redoc",
    ),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
urlpatterns += i18n_patterns(
    path("otp/verify/", otp_verify_view, name="otp_verify"),
    path("admin/", admin.site.urls),
    path("trace/", include("traceability.urls")),
    path("warehouses/", include("orderhub.allocation.urls")),
    path("alerts/", include("health.alerts.urls")),
    path("", include("orderhub.staff.urls")),
    path("board/", include("health.board_urls")),
    prefix_default_language=False,
)

admin.site.site_header = "OrderHub"
admin.site.site_title = "OrderHub"
