"""The one environment reader. No other module reads ``os.environ`` for configuration."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local .env (written by `make` on first run, never committed) fills what the environment
# does not set; real environment variables always win.
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)
