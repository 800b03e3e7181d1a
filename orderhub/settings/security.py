"""Transport, cookie, login and page security. Production tightens these (settings.production).

README: Security. Nothing here reads other modules' settings at import time except REDIS_URL,
which the rate-limit cache shares with Celery.
"""

from csp.constants import NONE, SELF, UNSAFE_INLINE

from orderhub.settings.env import env

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"

# Behind a TLS terminator that sets X-Forwarded-Proto (README: "Running in production").
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Upper bound for a request body read by Django itself (webhooks enforce their own limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# --- staff login: lockout (django-axes) -------------------------------------------------------
# The lockout backend comes first and only refuses; ModelBackend authenticates.
AUTHENTICATION_BACKENDS = [
    "orderhub.security.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After this many failed logins for one username from one IP, that pair is locked out.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
# Hours a lockout lasts (a superuser can lift it early: `manage.py axes_reset_username NAME`).
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Passwords and OTP codes never reach the attempt log.
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_HTTP_RESPONSE_CODE = 429
if env.bool("BEHIND_TLS_PROXY", default=False):
    # The proxy in front appends the client address to X-Forwarded-For.
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# --- two-factor (django-otp, TOTP) ------------------------------------------------------------
# Superusers must pass a TOTP code before any staff page; production turns this on.
OTP_REQUIRED_FOR_SUPERUSERS = env.bool("OTP_REQUIRED_FOR_SUPERUSERS", default=False)
# Every staff user must (otherwise only staff who enrolled a device are asked for a code).
OTP_REQUIRED_FOR_STAFF = env.bool("OTP_REQUIRED_FOR_STAFF", default=False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="OrderHub")

# --- Content-Security-Policy (django-csp 4.x) -------------------------------------------------
# No inline script anywhere: behaviour lives in static files (static/orderhub/). Inline style
# attributes remain allowed (the admin and the trace pages use them; they cannot run code).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- rate limits (django-ratelimit) -----------------------------------------------------------
# Public pages and the login POST: at most this many requests per client IP, and per key
# (the username on the login form), each per window. "0" turns the limit off.
PUBLIC_RATE_LIMIT = env.str("PUBLIC_RATE_LIMIT", default="30/m")
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/m")
# The counters live in the shared Redis cache (orderhub/settings/cache.py).
RATELIMIT_VIEW = "orderhub.security.rate_limited_view"
# django_ratelimit is used as a library (orderhub.security.public_rate_limit), not installed
# as an app: its system check warns about Django's own Redis cache backend, which does
# increment atomically, and would need silencing.
