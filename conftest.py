"""Fixtures shared by every test package. Tests run against real PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright drives the live server from the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium; Playwright's own browser download cannot work offline."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def database_url_for_subprocess() -> str:
    """URL of the database the running test uses (the test database), for child processes."""
    from django.db import connection

    params = connection.settings_dict
    user = params["USER"] or "postgres"
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    # The embedded server is reached through a Unix socket given as the `host` option.
    host = params["HOST"] or params.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{params['NAME']}?host={host}"
    port = f":{params['PORT']}" if params["PORT"] else ""
    return f"postgresql://{user}{password}@{host}{port}/{params['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(),
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="orderhub.settings",
        DEBUG="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real Celery worker in a child process, on a queue of its own."""

    def __init__(self, queue: str, log_path: Path) -> None:
        self.queue = queue
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, concurrency: int = 1) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "orderhub", "worker",
                "--queues", self.queue, "--concurrency", str(concurrency),
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--hostname", f"{self.queue}@%h",
            ],
            cwd=BASE_DIR, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, sig: int | None = None) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if sig is not None:
            self.process.send_signal(sig)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session", autouse=True)
def celery_queue_of_the_suite() -> Iterator[None]:
    """Every task a test queues goes to a queue of this run, then is thrown away: the suite
    shares the embedded Redis with a demo, whose worker must never run a test's task (the
    ids are of the test database) and whose queue must not fill with them."""
    from orderhub.celery import app

    queue = f"tests-{uuid.uuid4().hex[:10]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield
    finally:
        app.conf.task_default_queue = previous
        from kombu.exceptions import OperationalError

        # A broker that is gone has nothing left to purge.
        with contextlib.suppress(OperationalError, OSError), app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]  # (kombu)


@pytest.fixture
def celery_queue() -> Iterator[str]:
    """Route this test's tasks to a queue no other worker (say a running demo) consumes."""
    from orderhub.celery import app

    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        app.conf.task_default_queue = previous


@pytest.fixture
def celery_worker_process(celery_queue: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(celery_queue, tmp_path / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    """Tests do not run collectstatic; the manifest storage is for deployed servers."""
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
