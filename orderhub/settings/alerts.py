"""Alert rules and notifiers (README: Alerts and notifiers)."""

from orderhub.settings.env import env

# Where acknowledgement links in messages point (the staff site); empty = PUBLIC_BASE_URL.
ALERTS_BASE_URL = env.str("ALERTS_BASE_URL", default="")
# A delivery that fails transiently (timeout, 429, 5xx, "too fast") is tried this many times
# in all, waiting ALERTS_RETRY_BASE_SECONDS x 2^(attempt-1) (+ up to 25 % jitter, <= 15 min).
ALERTS_DELIVERY_MAX_ATTEMPTS = env.int("ALERTS_DELIVERY_MAX_ATTEMPTS", default=5)
ALERTS_RETRY_BASE_SECONDS = env.float("ALERTS_RETRY_BASE_SECONDS", default=30.0)
