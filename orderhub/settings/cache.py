"""The caches. Rate-limit counters (django-ratelimit: the public customer pages, the admin
login) live in Redis on REDIS_URL (or CACHE_URL; the embedded one in development), so every
web process shares them: never a per-process memory cache. Nothing else caches across
processes; the default cache is the process's own memory.
"""

from orderhub.settings.env import env
from orderhub.settings.tasks import REDIS_URL

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="orderhub-ratelimit"),
        "TIMEOUT": 3600,
        # A Redis that does not answer must not hold a page up (the limit then lets it pass).
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
}
RATELIMIT_USE_CACHE = "ratelimit"
