"""The consistency engine's sweep (README: Configuration)."""

from orderhub.settings.env import env

# How often the sweep looks for orders whose time-based check is due, and how many it takes
# per run (the oldest due first; the rest wait for the next run).
HEALTH_SWEEP_INTERVAL_SECONDS = env.float("HEALTH_SWEEP_INTERVAL_SECONDS", default=5.0)
HEALTH_SWEEP_BATCH = env.int("HEALTH_SWEEP_BATCH", default=500)
