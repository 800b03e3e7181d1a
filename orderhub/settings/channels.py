"""Channel intake, pull, write-back and reconciliation (README: Configuration)."""

from orderhub.settings.core import DEBUG, VAR_DIR
from orderhub.settings.env import env

# --- channel intake -------------------------------------------------------------------------
# Webhook bodies larger than this are refused with 413 before verification.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Fernet keys (comma-separated, the first encrypts) for channel account secrets at rest.
CHANNEL_SECRETS_KEYS = env.list("CHANNEL_SECRETS_KEYS", default=[])
# Without keys, development (DEBUG at start-up) derives a key from SECRET_KEY; production fails.
CHANNEL_SECRETS_DEV_KEY_ALLOWED = DEBUG
# How long a worker holds a claimed inbox message before another may take it over.
INBOX_LEASE_SECONDS = env.int("INBOX_LEASE_SECONDS", default=60)
# Transient failures are retried with backoff up to this many attempts, then failed_terminal.
INBOX_MAX_ATTEMPTS = env.int("INBOX_MAX_ATTEMPTS", default=5)
INBOX_BATCH_SIZE = env.int("INBOX_BATCH_SIZE", default=100)
# Once the inbox is empty, one drain (of those beat starts every INBOX_DRAIN_INTERVAL_SECONDS)
# keeps watching it for this long, probing every 0.1 s, so a delivery waits for a probe rather
# than the next beat tick. 0: a drain returns as soon as the inbox is empty.
INBOX_WATCH_SECONDS = env.float("INBOX_WATCH_SECONDS", default=5.0)
# Facts the facts API stored, applied per transaction by the worker (channels.facts_apply).
FACTS_BATCH_SIZE = env.int("FACTS_BATCH_SIZE", default=500)
# --- emergency intake journal (README: When the database is down) -------------------------
# Where the edge journals deliveries while the database cannot take them (local to the host).
JOURNAL_DIR = env.str("JOURNAL_DIR", default=str(VAR_DIR / "journal"))
# After a failed store, the edge journals without trying the database for this long.
JOURNAL_DB_RETRY_MS = env.int("JOURNAL_DB_RETRY_MS", default=1000)
# A store that has not finished within this long (connecting or waiting for an answer: a hung
# database) is cut off and the delivery journaled instead. 0: no budget.
JOURNAL_DB_BUDGET_MS = env.int("JOURNAL_DB_BUDGET_MS", default=1000)
# The journal refuses a record (the intake answers 503) once its segments hold this many bytes.
JOURNAL_MAX_BYTES = env.int("JOURNAL_MAX_BYTES", default=1024 * 1024 * 1024)
# The system check warns when the journal holds more records or an older record than this.
JOURNAL_ALARM_RECORDS = env.int("JOURNAL_ALARM_RECORDS", default=1000)
JOURNAL_ALARM_AGE_SECONDS = env.int("JOURNAL_ALARM_AGE_SECONDS", default=300)
# --- pull channels, write-back, reconciliation ---------------------------------------------
# A poll holds its account's lease this long (renewed per page); a crashed poll's lease expires.
POLL_LEASE_SECONDS = env.int("POLL_LEASE_SECONDS", default=120)
POLL_BUDGET_SECONDS = env.float("POLL_BUDGET_SECONDS", default=45.0)
# A relay holds a claimed outbox entry this long; a relay killed mid-send is replaced after it.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=30)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
RECONCILE_WINDOW_MINUTES = env.int("RECONCILE_WINDOW_MINUTES", default=120)
# --- sandbox (the demo) ------------------------------------------------------------------------
# Port of `manage.py sandbox_api` (the platform APIs the demo's pull channels read) on 127.0.0.1.
SANDBOX_API_PORT = env.int("SANDBOX_API_PORT", default=8765)
# Kuaidi100 overdue poll: a subscribed waybill of an open order with no tracking event for this
# long is queried; at most this many per account and run.
KUAIDI100_OVERDUE_HOURS = env.float("KUAIDI100_OVERDUE_HOURS", default=6.0)
KUAIDI100_POLL_BATCH = env.int("KUAIDI100_POLL_BATCH", default=50)
