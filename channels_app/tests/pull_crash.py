"""Kill a real poll process while the sandbox holds its next page (crash tests of pullers)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from channels_app.sandbox_api import SandboxAPI

POLL_SCRIPT = """
import django
django.setup()
from channels_app.pull.services import account_poll
print(account_poll(account_id={account_id}), flush=True)
"""


def kill_tree(pid: int) -> None:
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs([parent], timeout=10)


def poll_killed_while_held(
    api: SandboxAPI, *, account_id: int, operation: str, calls: int, log: Path
) -> None:
    """Run one poll in a child process (lease of 2 s); after ``calls`` calls of ``operation``
    the sandbox holds the next one, and the child is SIGKILLed while it waits."""
    from conftest import BASE_DIR, subprocess_env

    api.faults.pause_after[operation] = calls
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", POLL_SCRIPT.format(account_id=account_id)],
            cwd=BASE_DIR,
            env=subprocess_env(POLL_LEASE_SECONDS="2"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while api.faults.paused[operation] == 0:
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the poll never reached {operation} #{calls + 1}"
            time.sleep(0.05)
        kill_tree(child.pid)
    api.faults.release()
