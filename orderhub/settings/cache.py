"""The shared cache: Redis on REDIS_URL (the embedded one in development).

Rate limits (django-ratelimit: the public customer pages, the admin login) count in this
cache, so every web process must share it: never a per-process memory cache.
"""

from orderhub.settings.env import env
from orderhub.settings.tasks import REDIS_URL

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="orderhub"),
    }
}
RATELIMIT_USE_CACHE = "default"
