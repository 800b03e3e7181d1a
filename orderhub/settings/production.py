"""Production: DEBUG off, HTTPS only. Run behind a TLS terminator (README).

The base settings derive development allowances from ``DEBUG`` while they are imported, so a
leftover ``.env`` with ``DEBUG=true`` would otherwise carry them into production. Forcing
``DEBUG = False`` here is therefore not enough: every allowance derived from it is withdrawn
again below, and a development ``SECRET_KEY`` is refused.
"""

from django.core.exceptions import ImproperlyConfigured

from orderhub.settings import *  # noqa: F403
from orderhub.settings.core import DEVELOPMENT_SECRET_KEY
from orderhub.settings.env import env

DEBUG = False
# Channel secrets need real Fernet keys (CHANNEL_SECRETS_KEYS): check channels.E002 fails
# start-up and `check --deploy` without them.
CHANNEL_SECRETS_DEV_KEY_ALLOWED = False
if SECRET_KEY == DEVELOPMENT_SECRET_KEY:  # noqa: F405 - from the base settings
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Superusers must pass a TOTP code (manage.py otp_totp_add USER enrols one); staff may be made
# to as well with OTP_REQUIRED_FOR_STAFF.
OTP_REQUIRED_FOR_SUPERUSERS = env.bool("OTP_REQUIRED_FOR_SUPERUSERS", default=True)
# Staff sessions end after 8 hours of work or when the browser closes.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
