"""`make bench`: run every benchmark script and print its figures.

Each script in this folder exposes ``main()`` and prints its own figures (medians, p95)
together with its physical reference where it has one. This runner prints the machine first.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

BENCHMARKS = [
    "intake_bench",
    "courier_bench",
    "facts_bench",
    "writeback_bench",
    "ledger_bench",
    "trace_bench",
    "claims_bench",
    "journal_bench",
    "recovery_bench",
    "board_bench",
    "detection_bench",
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
    wanted = sys.argv[1:] or BENCHMARKS
    print(f"machine: {machine()}", flush=True)
    for name in wanted:
        path = Path(__file__).with_name(f"{name}.py")
        if not path.exists():
            print(f"\n== {name}: not present", flush=True)
            continue
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        module.main()
        print(f"({name} took {time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
