"""Courier-push intake: Kuaidi100 pushes through OrderHub's intake next to a bare receiver.

The bare receiver, measured in the same run under the same gunicorn setup, does what any
Kuaidi100 endpoint must: read the form, check ``sign`` = upper(md5(param + salt)) and INSERT
the raw body. OrderHub's intake also checks the account, dedupes, stores the message with its
ledger event and answers Kuaidi100's JSON. Then the stored pushes are processed (tracking
events stored, attached to their orders, facts applied) by two processing processes.
Each push is one waybill's 4-event trace (about 1.5 KB). Medians of ``BENCH_RUNS`` runs;
``BENCH_REQUESTS`` pushes per run. Target: intake >= 70 % of the bare receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode

import psycopg

from bench.intake_bench import (
    _PROCESSOR,
    PROCESSORS,
    PYTHON,
    REQUESTS,
    ROOT,
    RUNS,
    Server,
    _bench_database_url,
    _load,
    _manage,
    _median,
    _server_env,
    _summary,
    _truncate,
)

SALT = "bench-kuaidi100-salt"
ACCOUNT = "bench-kd100"
_minimal_conn: psycopg.Connection[Any] | None = None


def minimal_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The bare Kuaidi100 receiver: form decode, MD5 sign check, one INSERT."""
    global _minimal_conn
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    param, sign = form.get("param", [""])[0], form.get("sign", [""])[0]
    expected = hashlib.md5((param + SALT).encode()).hexdigest().upper()  # noqa: S324
    if not hmac.compare_digest(expected.encode(), sign.encode()):
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [b'{"result":false}']
    if _minimal_conn is None:
        _minimal_conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"])
    _minimal_conn.execute(
        "INSERT INTO bench_minimal (delivery_id, body) VALUES (%s, %s)", ["", body]
    )
    _minimal_conn.commit()
    start_response("200 OK", [("Content-Type", "application/json")])
    return ['{"result":true,"returnCode":"200","message":"成功"}'.encode()]


def _push(n: int, run: str) -> bytes:
    number = f"JD{run}{n:08d}"
    scans = [
        ("2026-11-27 18:05:12", "103", "揽收", "京东快递已收取快件"),
        ("2026-11-27 22:28:50", "1002", "干线", "快件到达西安灞桥分拣中心"),
        ("2026-11-28 08:27:50", "5", "派件", "快件正在派送中"),
        ("2026-11-28 10:34:33", "304", "投柜或站签收", "已由快递驿站代收"),
    ]
    data = [
        {"time": at, "ftime": at, "context": text, "status": word, "statusCode": code,
         "areaName": "陕西,西安市,灞桥区", "location": ""}
        for at, code, word, text in reversed(scans)
    ]  # fmt: skip
    param = json.dumps(
        {"status": "polling", "billstatus": "", "message": "",
         "lastResult": {"message": "ok", "nu": number, "ischeck": "1", "com": "jd",
                        "status": "200", "state": "304", "condition": "00", "data": data}},
        ensure_ascii=False, separators=(",", ":"),
    )  # fmt: skip
    sign = hashlib.md5((param + SALT).encode()).hexdigest().upper()  # noqa: S324
    return urlencode({"param": param, "sign": sign}).encode()


def _requests(count: int, run: str) -> list[tuple[bytes, dict[str, str]]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return [(_push(n, run), headers) for n in range(count)]


def _count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    database_url = _bench_database_url()
    env = _server_env(database_url)
    _manage(env, "migrate", "--noinput")
    _truncate(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE orderhub_trackingevent")
        conn.execute("DELETE FROM channels_app_channelaccount WHERE code = %s", [ACCOUNT])
    _manage(
        env, "channel_add", "--kind", "kuaidi100", "--code", ACCOUNT, "--secret", f"salt={SALT}"
    )
    print(f"Kuaidi100 pushes (4 scans each), {REQUESTS} per run, {RUNS} runs")

    minimal_runs, intake_runs, processing_runs = [], [], []
    intake = Server("orderhub.wsgi:application", env)
    minimal = Server("bench.courier_bench:minimal_app", env)
    try:
        for run in range(RUNS):
            _truncate(database_url)
            minimal_runs.append(_load(minimal.port, "/", _requests(REQUESTS, f"m{run}")))
            _truncate(database_url)
            intake_runs.append(
                _load(intake.port, f"/hooks/{ACCOUNT}/", _requests(REQUESTS, f"i{run}"))
            )
            started = time.perf_counter()
            processors = [
                subprocess.Popen([PYTHON, "-c", _PROCESSOR.format(idle=3)], cwd=ROOT, env=env)
                for _ in range(PROCESSORS)
            ]
            for process in processors:
                process.wait(timeout=600)
            elapsed = time.perf_counter() - started - 3  # less the idle wait that ends them
            done = _count(
                database_url,
                "SELECT count(*) FROM channels_app_inboundmessage WHERE status = 'processed'",
            )
            processing_runs.append({"rate": done / max(elapsed, 0.001), "done": done})
        print(_summary("bare Kuaidi100 receiver (MD5 sign + 1 INSERT)", minimal_runs))
        print(_summary("OrderHub courier intake (verify + store + ledger)", intake_runs))
        ratio = _median(intake_runs, "rate") / _median(minimal_runs, "rate")
        print(f"courier intake / bare receiver: {ratio:.0%} (target >= 70%)")
        rates = ", ".join(f"{r['rate']:,.0f}" for r in processing_runs)
        events = _count(database_url, "SELECT count(*) FROM orderhub_trackingevent")
        print(
            f"processing the stored pushes ({PROCESSORS} processes): "
            f"{_median(processing_runs, 'rate'):,.0f} pushes/s (runs {rates}; "
            f"{int(min(r['done'] for r in processing_runs))}/{REQUESTS} processed at least), "
            f"{events} events stored"
        )
    finally:
        intake.stop()
        minimal.stop()


if __name__ == "__main__":
    main()
