"""The ledger's signing key, checkpoint store and sealing cadence (README: Configuration)."""

from orderhub.settings.env import BASE_DIR, env

# Ed25519 private key (base64 of the raw 32 bytes, or PEM). Required in production.
LEDGER_SIGNING_KEY = env.str("LEDGER_SIGNING_KEY", default="")
# Where a development key is generated when DEBUG is on and no key is configured.
LEDGER_KEY_DIR = env.str("LEDGER_KEY_DIR", default=str(BASE_DIR / "var" / "keys"))
# Signed checkpoints live outside the database; the database role must not write here.
LEDGER_CHECKPOINT_DIR = env.str(
    "LEDGER_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "ledger-checkpoints")
)
LEDGER_CHECKPOINT_INTERVAL = env.int("LEDGER_CHECKPOINT_INTERVAL", default=60)
LEDGER_SEAL_LOOKBACK = env.int("LEDGER_SEAL_LOOKBACK", default=100_000)
LEDGER_SEAL_INTERVAL_SECONDS = env.float("LEDGER_SEAL_INTERVAL_SECONDS", default=2.0)
