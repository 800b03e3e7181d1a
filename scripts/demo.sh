#!/usr/bin/env bash
# Runs web, worker, beat and the sandboxes until Ctrl-C, then stops the embedded services.
# Ports (README: Ports): PORT (web, default 8000), SANDBOX_API_PORT (the platform APIs,
# default 8765, read by `manage.py sandbox_api`), ORDERHUB_EMBEDDED_REDIS_PORT (default 6390).
set -u
cd "$(dirname "$0")/.."
stop_embedded() { .venv/bin/python -m orderhub.embedded stop; }
trap stop_embedded EXIT
# Ctrl-C reaches honcho too, which stops its processes; this script then runs the EXIT trap.
trap 'true' INT TERM
ORDERHUB_PORT="${PORT:-8000}" .venv/bin/honcho -f Procfile.demo start
exit 0
