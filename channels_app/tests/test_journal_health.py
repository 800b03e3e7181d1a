"""The journal's size and age for people and machines: ``journal_health()``, the system check,
the admin page; the journal's byte limit (``JOURNAL_MAX_BYTES``) and a real full disk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.template.defaultfilters import yesno
from django.test import Client
from django.utils import timezone, translation

from channels_app.checks import check_journal
from channels_app.drill.runner import namespaces_allowed
from channels_app.journal import (
    JournalFull,
    journal_append,
    journal_bytes,
    journal_status_read,
    record_encode,
    records_decode,
)
from channels_app.selectors import journal_health
from tests.factories import WarehouseFactory


@pytest.fixture
def journal_dir(tmp_path: Path, settings: Any) -> Path:
    settings.JOURNAL_DIR = str(tmp_path / "journal")
    settings.JOURNAL_ALARM_RECORDS = 2
    settings.JOURNAL_ALARM_AGE_SECONDS = 300
    settings.JOURNAL_MAX_BYTES = 1024 * 1024
    return Path(settings.JOURNAL_DIR)


def _append(n: int, received_at: datetime | None = None) -> None:
    journal_append(
        code="site", body=b"x" * 100, headers={"x-n": str(n)}, query={},
        received_at=received_at or timezone.now(), verified=True,
    )  # fmt: skip


def test_an_empty_journal_is_healthy(journal_dir: Path) -> None:
    assert journal_health() == {
        "segments": 0, "records": 0, "bytes": 0, "oldest_age_s": None,
        "max_bytes": 1024 * 1024, "alarm": False, "reasons": [],
    }  # fmt: skip
    assert check_journal() == []


def test_health_counts_the_records_and_alarms_past_the_record_limit(journal_dir: Path) -> None:
    _append(1, timezone.now() - timedelta(seconds=30))
    _append(2)
    health = journal_health()
    size = journal_bytes(journal_dir)
    assert (health["segments"], health["records"], health["bytes"]) == (1, 2, size)
    assert 29 <= (health["oldest_age_s"] or 0) < 120
    assert (health["alarm"], health["reasons"]) == (False, [])
    json.dumps(health)  # JSON values only
    _append(3)
    health = journal_health()
    assert (health["records"], health["alarm"]) == (3, True)
    assert health["reasons"] == ["3 deliveries, more than 2"]
    [warning] = check_journal()
    assert warning.id == "channels.W010"
    assert "3 deliveries, more than 2" in warning.msg


def test_health_alarms_on_an_old_record_and_on_a_nearly_full_journal(
    journal_dir: Path, settings: Any
) -> None:
    _append(1, timezone.now() - timedelta(seconds=400))
    health = journal_health()
    assert health["alarm"] is True
    assert health["reasons"] == ["the oldest is 400 s old, more than 300 s"]
    settings.JOURNAL_ALARM_AGE_SECONDS = 3600
    assert journal_health()["alarm"] is False
    settings.JOURNAL_MAX_BYTES = journal_bytes(journal_dir) + 10  # more than 80 % full
    health = journal_health()
    assert health["reasons"] == [
        f"{journal_bytes(journal_dir)} bytes of the {settings.JOURNAL_MAX_BYTES} it may hold"
    ]


def test_the_journal_refuses_a_record_past_its_byte_limit_and_keeps_the_others(
    journal_dir: Path, settings: Any
) -> None:
    _append(1)
    one = journal_bytes(journal_dir)
    settings.JOURNAL_MAX_BYTES = 2 * one
    _append(2)
    with pytest.raises(JournalFull):
        _append(3)
    assert journal_bytes(journal_dir) == 2 * one
    assert journal_status_read().records == 2
    settings.JOURNAL_MAX_BYTES = 0  # no limit
    _append(3)
    assert journal_status_read().records == 3


_FILL = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from django.conf import settings
    settings.configure(JOURNAL_DIR=sys.argv[1], JOURNAL_MAX_BYTES=0)
    from channels_app.journal import JournalWriteError, journal_append
    kept = 0
    while True:
        try:
            journal_append(code="site", body=b"y" * (300 + kept), headers={}, query={},
                           received_at=datetime.now(UTC), verified=True)
        except JournalWriteError as error:
            print(kept, error)
            break
        kept += 1
    """
)


@pytest.mark.skipif(not namespaces_allowed(), reason="user namespaces not allowed here")
def test_a_full_disk_refuses_the_record_and_leaves_no_torn_tail(tmp_path: Path) -> None:
    """A real ENOSPC: a 8 KiB tmpfs over the journal folder (user + mount namespace)."""
    folder = tmp_path / "journal"
    folder.mkdir()
    script = (
        f'mount -t tmpfs -o size=8192 tmpfs "{folder}" && {sys.executable} -c "$0" "{folder}" '
        f'&& cat "{folder}"/seg-* > "{tmp_path}/segments"'
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, _FILL],
        capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    kept_text, error = result.stdout.split(" ", 1)
    kept = int(kept_text)
    assert 10 <= kept <= 20  # 8 KiB of records of 300+ bytes
    assert "No space left on device" in error or "short write" in error
    data = (tmp_path / "segments").read_bytes()
    records = list(records_decode(data))
    assert [len(record.body) for record in records] == [300 + n for n in range(kept)]
    # Every byte on the disk belongs to a whole record: the refused one left nothing behind.
    assert sum(len(record_encode(record)) for record in records) == len(data)


def _row(page: Any, label: str, *cells: object) -> bytes:
    """A row of the journal table as the page renders it, in the page's language."""
    with translation.override(page.wsgi_request.LANGUAGE_CODE):
        texts = [yesno(cell) if isinstance(cell, bool) else str(cell) for cell in cells]
        head = f'<th scope="row">{translation.gettext(label)}</th>'
    return (head + "".join(f"<td>{text}</td>" for text in texts)).encode()


def _text(page: Any, msgid: str, **values: object) -> bytes:
    with translation.override(page.wsgi_request.LANGUAGE_CODE):
        return (
            translation.gettext(msgid) % values if values else translation.gettext(msgid)
        ).encode()


@pytest.mark.django_db
def test_the_admin_shows_the_journal_and_warns_on_the_message_list(
    journal_dir: Path, client: Client, django_user_model: Any
) -> None:
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    warning = (
        "The emergency intake journal holds %(records)d deliveries the database has not taken yet."
    )
    page = client.get("/admin/channels_app/inboundmessage/journal/")
    assert page.status_code == 200
    assert _row(page, "Journaled deliveries", 0, 2) in page.content
    assert _row(page, "Journal alarm", False) in page.content
    listing = client.get("/admin/channels_app/inboundmessage/")
    assert _text(listing, "Emergency intake journal") in listing.content
    assert b'class="warning"' not in listing.content
    for n in range(3):
        _append(n)
    page = client.get("/admin/channels_app/inboundmessage/journal/")
    assert _row(page, "Journaled deliveries", 3, 2) in page.content
    assert _row(page, "Journal alarm", True) in page.content
    assert _text(page, "The journal is past its alarm limits: check the database.") in page.content
    listing = client.get("/admin/channels_app/inboundmessage/")
    assert _text(listing, warning, records=3) in listing.content


@pytest.mark.django_db
def test_warehouse_staff_do_not_see_the_journal(journal_dir: Path) -> None:
    user = get_user_model().objects.create_user("wh", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_inboundmessage"))
    WarehouseFactory.create(code="SH").staff.add(user)
    for n in range(3):
        _append(n)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/channels_app/inboundmessage/journal/").status_code == 403
    listing = client.get("/admin/channels_app/inboundmessage/")
    assert listing.status_code == 200
    warning = (
        "The emergency intake journal holds %(records)d deliveries the database has not taken yet."
    )
    assert _text(listing, warning, records=3) not in listing.content


def test_journal_status_prints_the_health(journal_dir: Path) -> None:
    from io import StringIO

    from django.core.management import call_command

    for n in range(3):
        _append(n)
    out = StringIO()
    call_command("journal_status", "--json", stdout=out)
    assert json.loads(out.getvalue()) == journal_health()
    out = StringIO()
    call_command("journal_status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1:3] == ["segments 1", "records 3"]
    assert lines[4] == f"bytes {journal_bytes(journal_dir)} of at most {1024 * 1024}"
    assert lines[5] == "alarm yes: 3 deliveries, more than 2"
