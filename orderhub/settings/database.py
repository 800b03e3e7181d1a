import environ

from orderhub.settings.env import env

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    # No server given: start (or join) the embedded PostgreSQL under var/.
    from orderhub import embedded

    DATABASES = {"default": environ.Env.db_url_config(embedded.postgres_url())}

DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_orderhub")}
