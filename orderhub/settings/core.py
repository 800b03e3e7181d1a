from datetime import UTC as _UTC
from datetime import datetime as _datetime
from pathlib import Path

import django_stubs_ext
from django.utils.translation import gettext_lazy as _

from orderhub.settings.env import BASE_DIR, env

# Lets admin classes be written ModelAdmin[Model] for the type checker.
django_stubs_ext.monkeypatch()

DEBUG = env.bool("DEBUG", default=False)

# Files the project writes at run time live here (the embedded servers' data, collected static
# files, the demo's logins); orderhub.embedded resolves ORDERHUB_VAR_DIR the same way.
VAR_DIR = Path(env.str("ORDERHUB_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

# A development key is only allowed with DEBUG on; production must set SECRET_KEY.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - DEBUG only
SECRET_KEY = env.str("SECRET_KEY", default="") or (DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, no CDN
    "django_filters",
    "django_celery_beat",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "orderhub.apps.OrderHubConfig",
    "orderhub.customers.apps.CustomersConfig",
    "channels_app.apps.ChannelsConfig",
    "health.apps.HealthConfig",
    "health.alerts.apps.AlertsConfig",
    "traceability.apps.TraceabilityConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "orderhub.locale.StickyLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "orderhub.security.StaffOTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a lockout raised by the login into the 429 page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orderhub.urls"
# Staff pages (trace, board) send anonymous visitors to the admin's login form.
LOGIN_URL = "admin:login"
WSGI_APPLICATION = "orderhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Revert would bypass the order state machine.
SIMPLE_HISTORY_REVERT_DISABLED = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}},
}


def _aware(text: str) -> _datetime:
    """An ISO 8601 time from the environment; without an offset it is UTC."""
    moment = _datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=_UTC)


# --- sane times -------------------------------------------------------------------------------
# Times a message may carry (placed, paid, each status fact): not before ORDERHUB_TIME_MIN and
# not more than ORDERHUB_TIME_MAX_AHEAD_SECONDS after now. Outside that, the message is refused
# with a reason naming the field (orderhub.validation).
ORDERHUB_TIME_MIN = _aware(env.str("ORDERHUB_TIME_MIN", default="2000-01-01T00:00:00Z"))
ORDERHUB_TIME_MAX_AHEAD_SECONDS = env.int("ORDERHUB_TIME_MAX_AHEAD_SECONDS", default=86400)
