"""One competing warehouse in the allocation race test (run as a script, stdlib only).

``python tests/allocation_claimant.py PORT WAREHOUSE TOKEN FOLDER SEED``: reads the
warehouse's offers over HTTP once (kept in ``FOLDER/<warehouse>.offers.json``), writes
``FOLDER/<warehouse>.ready``, waits for ``FOLDER/go``, then claims every offered order in its own
shuffled order, one JSON line per answer in ``FOLDER/<warehouse>.jsonl`` (flushed each line).
Started again after being killed, it skips the orders it already has an answer for.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import sys
import time
from pathlib import Path


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes | None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read()


def main() -> int:
    port, warehouse, token, folder_name, seed = sys.argv[1:6]
    folder = Path(folder_name)
    offers_file = folder / f"{warehouse}.offers.json"
    results_file = folder / f"{warehouse}.jsonl"
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    if offers_file.exists():
        orders = json.loads(offers_file.read_text())
    else:
        orders, offset = [], 0
        while True:
            path = f"/api/v1/warehouses/{warehouse}/offers/?limit=500&offset={offset}"
            status, body = _request(conn, "GET", path, token, None)
            if status != 200:
                raise SystemExit(f"offers answered {status}: {body[:300]!r}")
            page = json.loads(body)
            orders += [row["order"] for row in page["results"]]
            if not page["next"]:
                break
            offset += 500
        offers_file.write_text(json.dumps(orders))
    (folder / f"{warehouse}.ready").touch()
    while not (folder / "go").exists():
        time.sleep(0.02)
    done: set[int] = set()
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):  # the line a kill cut short
                done.add(json.loads(line)["order"])
    # Everyone walks the same list, each shuffled within windows: neighbours collide often.
    rng = random.Random(int(seed))
    window = 16
    sequence = []
    for start in range(0, len(orders), window):
        chunk = orders[start : start + window]
        rng.shuffle(chunk)
        sequence += chunk
    with results_file.open("a") as out:
        for order in sequence:
            if order in done:
                continue
            body = json.dumps({"order": order}).encode()
            path = f"/api/v1/warehouses/{warehouse}/claims/"
            for attempt in range(20):
                try:
                    status, answer = _request(conn, "POST", path, token, body)
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
                    time.sleep(0.05 * (attempt + 1))
            else:
                raise SystemExit(f"order {order}: no answer")
            record = {"order": order, "code": status, "body": json.loads(answer)}
            out.write(json.dumps(record) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
