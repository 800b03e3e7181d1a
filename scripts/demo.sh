#!/usr/bin/env bash
# Runs web, worker, beat and the sandboxes until Ctrl-C, then stops the embedded services.
set -u
cd "$(dirname "$0")/.."
stop_embedded() { .venv/bin/python -m orderhub.embedded stop; }
trap stop_embedded EXIT
# Ctrl-C reaches honcho too, which stops its processes; this script then runs the EXIT trap.
trap 'true' INT TERM
ORDERHUB_PORT="${PORT:-8000}" .venv/bin/honcho -f Procfile.demo start
exit 0
