"""The ledger's signing key, checkpoint store and sealing cadence (README: Configuration)."""

from orderhub.settings.core import VAR_DIR
from orderhub.settings.env import env

# Ed25519 private key (base64 of the raw 32 bytes, or PEM). Required in production by the
# sealer; the other processes can do with the public key alone.
LEDGER_SIGNING_KEY = env.str("LEDGER_SIGNING_KEY", default="")
# The matching public key (PEM), for processes that verify or serve it but never sign.
LEDGER_PUBLIC_KEY = env.str("LEDGER_PUBLIC_KEY", default="")
# Where a development key is generated when DEBUG is on and no key is configured.
LEDGER_KEY_DIR = env.str("LEDGER_KEY_DIR", default=str(VAR_DIR / "keys"))
# Signed checkpoints live outside the database; the database role must not write here.
LEDGER_CHECKPOINT_DIR = env.str(
    "LEDGER_CHECKPOINT_DIR", default=str(VAR_DIR / "ledger-checkpoints")
)
# Every seal run that sealed something signs the newest checkpoint; one per this many seconds
# is also kept as a file of its own (the history), so the folder grows by at most that.
LEDGER_CHECKPOINT_INTERVAL = env.int("LEDGER_CHECKPOINT_INTERVAL", default=60)
LEDGER_SEAL_LOOKBACK = env.int("LEDGER_SEAL_LOOKBACK", default=100_000)
# The seal cadence: the newest events are covered by a signature within about this long.
LEDGER_SEAL_INTERVAL_SECONDS = env.float("LEDGER_SEAL_INTERVAL_SECONDS", default=2.0)
# The Celery queue of the seal task: give it a worker of its own that runs as the sealer's
# user (the one that holds the signing key and may write the checkpoint folder).
LEDGER_SEAL_QUEUE = env.str(
    "LEDGER_SEAL_QUEUE", default=env.str("CELERY_DEFAULT_QUEUE", default="orderhub")
)
