"""A child process that appends ledger events, one transaction each (the concurrency test).

Usage: python -m traceability.tests.ledger_writer WRITER_NO EVENTS
"""

from __future__ import annotations

import sys


def main() -> None:
    import django

    django.setup()
    from django.db import transaction

    from traceability.services import ledger_append

    writer, count = int(sys.argv[1]), int(sys.argv[2])
    for number in range(count):
        with transaction.atomic():
            ledger_append(
                action="test.append",
                actor=f"writer-{writer}",
                order_id=writer,
                subject_type="writer",
                subject_id=f"{writer}-{number}",
                source_system="test",
                after={"n": number, "text": "写入"},
            )
    print(f"writer {writer} done", flush=True)


if __name__ == "__main__":
    main()
