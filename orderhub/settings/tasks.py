from orderhub.settings.env import env
from orderhub.settings.ledger import LEDGER_SEAL_INTERVAL_SECONDS, LEDGER_SEAL_QUEUE

if env.str("REDIS_URL", default=""):
    REDIS_URL = env.str("REDIS_URL")
else:
    from orderhub import embedded

    REDIS_URL = embedded.redis_url()

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
# A task that outlives the visibility timeout is redelivered; keep it far above time limits.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_DEFAULT_QUEUE", default="orderhub")

# The consistency engine's sweep: how often it looks for orders whose time-based check is due,
# and how many it takes per run (the oldest due first; the rest wait for the next run).
HEALTH_SWEEP_INTERVAL_SECONDS = env.float("HEALTH_SWEEP_INTERVAL_SECONDS", default=5.0)
HEALTH_SWEEP_BATCH = env.int("HEALTH_SWEEP_BATCH", default=500)
# Auto-repair (health.repairs): off, anomalies still open and close as before, nothing is run.
HEALTH_AUTO_REPAIR = env.bool("HEALTH_AUTO_REPAIR", default=True)
# PostgreSQL work_mem of the recovery report's transaction (its sorts stay in memory).
HEALTH_RECOVERY_WORK_MEM = env.str("HEALTH_RECOVERY_WORK_MEM", default="64MB")

# Periodic work. django-celery-beat's DatabaseScheduler copies these into the database, where
# the admin can change their schedules.
CELERY_BEAT_SCHEDULE = {
    "channels-inbox-drain": {
        "task": "channels.inbox_drain",
        "schedule": env.float("INBOX_DRAIN_INTERVAL_SECONDS", default=1.0),
        "options": {"expires": 5},
    },
    "channels-facts-apply": {
        "task": "channels.facts_apply",
        "schedule": env.float("FACTS_APPLY_INTERVAL_SECONDS", default=1.0),
        "options": {"expires": 5},
    },
    "traceability-ledger-seal": {
        "task": "traceability.ledger_seal",
        "schedule": LEDGER_SEAL_INTERVAL_SECONDS,
        "options": {"expires": 10, "queue": LEDGER_SEAL_QUEUE},
    },
    "channels-poll-fanout": {
        "task": "channels.poll_fanout",
        "schedule": env.float("POLL_INTERVAL_SECONDS", default=60.0),
        "options": {"expires": 30},
    },
    "channels-outbox-sweep": {
        "task": "channels.outbox_sweep",
        "schedule": env.float("OUTBOX_SWEEP_INTERVAL_SECONDS", default=5.0),
        "options": {"expires": 10},
    },
    "channels-kuaidi100-overdue-poll": {
        "task": "channels.kuaidi100_overdue_poll",
        "schedule": env.float("KUAIDI100_POLL_INTERVAL_SECONDS", default=900.0),
        "options": {"expires": 600},
    },
    "orderhub-allocation-sweep": {
        "task": "orderhub.allocation_sweep",
        "schedule": env.float("ALLOCATION_SWEEP_INTERVAL_SECONDS", default=60.0),
        "options": {"expires": 30},
    },
    "customers-confirmation-sweep": {
        "task": "customers.confirmation_sweep",
        "schedule": env.float("CONFIRMATION_SWEEP_INTERVAL_SECONDS", default=300.0),
        "options": {"expires": 120},
    },
    "customers-credit-refresh": {
        "task": "customers.credit_refresh",
        "schedule": env.float("CREDIT_REFRESH_INTERVAL_SECONDS", default=86400.0),
        "options": {"expires": 3600},
    },
    "health-anomalies-sweep": {
        "task": "health.anomalies_sweep",
        "schedule": HEALTH_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": 10},
    },
    "alerts-evaluate": {
        "task": "alerts.evaluate",
        "schedule": env.float("ALERTS_EVALUATE_INTERVAL_SECONDS", default=30.0),
        "options": {"expires": 60},
    },
    "health-anomaly-repairs-sweep": {
        "task": "health.anomaly_repairs_sweep",
        "schedule": env.float("HEALTH_REPAIR_SWEEP_INTERVAL_SECONDS", default=30.0),
        "options": {"expires": 20},
    },
    "health-score-daily-rollup": {
        "task": "health.score_daily_rollup",
        "schedule": env.float("SCORE_ROLLUP_INTERVAL_SECONDS", default=3600.0),
        "options": {"expires": 1800},
    },
    "health-score-fold": {
        "task": "health.score_fold",
        "schedule": env.float("SCORE_FOLD_INTERVAL_SECONDS", default=10.0),
        "options": {"expires": 9},
    },
    "channels-reconcile-fanout": {
        "task": "channels.reconcile_fanout",
        "schedule": env.float("RECONCILE_INTERVAL_SECONDS", default=900.0),
        "options": {"expires": 300},
    },
}

# Task modules outside an app's ``tasks.py`` (autodiscovery finds only those).
CELERY_IMPORTS = ["orderhub.allocation.tasks", "health.alerts.beat"]
