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
# Statements run through a server-binding cursor (orderhub.sql.prepared_cursor: the intake's
# store, the ledger append) are prepared after this many runs. The ORM's own cursors bind on
# the client and are never prepared. Behind a pooler that cannot keep prepared statements
# (PgBouncer before 1.21 in transaction mode), set DATABASE_PREPARED_STATEMENTS=false.
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
)
# A connection attempt gives up after this many seconds (libpq counts whole seconds, at least
# 2), so an unreachable database sends the intake to its journal instead of hanging.
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2)
)
