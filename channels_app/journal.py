"""The emergency intake journal: append-only, fsynced segment files of raw deliveries.

When the database cannot take a delivery, the intake edge appends it here and answers; the
replay (``channels_app.services.journal``) later feeds the records through the normal store
path. This module is file I/O only: no ORM, no Django request state.

Layout under ``<ORDERHUB_VAR_DIR>/journal/``:

- ``seg-<ns>-<pid>.open``: the segment a process appends to. Every append opens it, takes an
  exclusive ``flock``, checks the path still names the file it opened (a replayer may have
  claimed it), writes one record with one ``write``, ``fsync``\\ s it and closes it.
- ``seg-<ns>-<pid>.replay``: a segment a replayer claimed (renamed under the segment's flock,
  so no append can land in it afterwards). Removed only after every record in it is stored.
- ``replay.lock``: held (``flock``) by the one replayer at work.

A record is ``b"OHJ1" | length (u32 BE) | crc32 (u32 BE) | payload``; the payload is JSON
(the body base64-encoded). A torn tail (a crash mid-append, never answered) fails its length
or checksum and is skipped with the rest of that file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

MAGIC = b"OHJ1"
_HEADER = struct.Struct(">4sII")
OPEN_SUFFIX = ".open"
REPLAY_SUFFIX = ".replay"
# A process starts a new segment past this size, so a replayed segment is never huge.
SEGMENT_MAX_BYTES = 16 * 1024 * 1024


class JournalWriteError(Exception):
    """The delivery could not be made durable: the caller must not answer success."""


class JournalFull(JournalWriteError):
    """The journal holds ``JOURNAL_MAX_BYTES`` already."""


class JournalBusy(Exception):
    """Another replayer holds the lock."""


@dataclass(frozen=True, slots=True)
class JournalRecord:
    code: str
    body: bytes
    headers: dict[str, str]
    query: dict[str, str]
    received_at: datetime
    verified: bool
    arrival_ns: int


def journal_dir() -> Path:
    return Path(settings.JOURNAL_DIR)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_encode(record: JournalRecord) -> bytes:
    payload = json.dumps(
        {
            "code": record.code,
            "body": base64.b64encode(record.body).decode(),
            "headers": dict(record.headers),
            "query": dict(record.query),
            "received_at": record.received_at.isoformat(),
            "verified": record.verified,
            "arrival_ns": record.arrival_ns,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def records_decode(data: bytes) -> Iterator[JournalRecord]:
    """The records of one segment's bytes, up to the first torn or corrupt one."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, length, checksum = _HEADER.unpack_from(data, offset)
        payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != checksum:
            logger.warning("channels.journal.torn_record offset=%s", offset)
            return
        item = json.loads(payload)
        yield JournalRecord(
            code=item["code"],
            body=base64.b64decode(item["body"]),
            headers=item["headers"],
            query=item["query"],
            received_at=datetime.fromisoformat(item["received_at"]),
            verified=item["verified"],
            arrival_ns=item["arrival_ns"],
        )
        offset += _HEADER.size + length


class _Writer:
    """This process's current segment name (one file per process: appends never interleave)."""

    path: Path | None = None
    pid: int = 0


_writer = _Writer()


def journal_bytes(directory: Path) -> int:
    """The bytes the journal's segments hold now (open and claimed)."""
    size = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith("seg-"):
                try:
                    size += entry.stat().st_size
                except FileNotFoundError:
                    continue
    return size


def _segment_path(directory: Path) -> Path:
    if _writer.path is None or _writer.pid != os.getpid() or _writer.path.parent != directory:
        _writer.path = directory / f"seg-{time.time_ns():020d}-{os.getpid()}{OPEN_SUFFIX}"
        _writer.pid = os.getpid()
    return _writer.path


def journal_append(
    *,
    code: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    received_at: datetime,
    verified: bool,
) -> None:
    """Append one delivery and fsync it (and the folder when the file is new).

    Returns only once the record is durable; raises ``JournalWriteError`` otherwise (the
    disk full, the folder unwritable) and ``JournalFull`` when the journal already holds
    ``JOURNAL_MAX_BYTES`` (checked before the write, so concurrent writers may pass it by at
    most one record each).
    """
    record = JournalRecord(
        code=code, body=body, headers=dict(headers), query=dict(query),
        received_at=received_at, verified=verified, arrival_ns=time.time_ns(),
    )  # fmt: skip
    data = record_encode(record)
    directory = journal_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        limit = settings.JOURNAL_MAX_BYTES
        if limit and journal_bytes(directory) + len(data) > limit:
            logger.error("channels.journal.full limit=%s", limit)
            raise JournalFull(f"the journal holds {limit} bytes already (JOURNAL_MAX_BYTES)")
        for _attempt in range(5):
            path = _segment_path(directory)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    current = None
                opened = os.fstat(fd)
                if current is None or current.st_ino != opened.st_ino:
                    _writer.path = None  # claimed by a replayer meanwhile: a new segment
                    continue
                new_file = opened.st_size == 0
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(f"short write ({written} of {len(data)} bytes)")
                    os.fsync(fd)
                except OSError:
                    # A full disk may take part of the record: cut it off again (still under
                    # the lock), so the next record in this file is not behind a torn one.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, opened.st_size)
                    raise
                if new_file:
                    _fsync_dir(directory)
                if opened.st_size + len(data) > SEGMENT_MAX_BYTES:
                    _writer.path = None
                return
            finally:
                os.close(fd)
        raise OSError("segment kept being claimed")
    except OSError as error:
        _writer.path = None
        logger.error("channels.journal.write_failed error=%s", error)
        raise JournalWriteError(str(error)) from error


@contextmanager
def replay_lock() -> Iterator[None]:
    """The one-replayer-at-a-time lock; ``JournalBusy`` when another holds it."""
    directory = journal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusy("another replay is running") from None
        yield
    finally:
        os.close(fd)


def segments_claim() -> list[Path]:
    """Rename every open segment to a replay segment (under its flock); return all of them.

    Caller holds ``replay_lock``. Claimed segments left by a replayer that died are included.
    """
    directory = journal_dir()
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob(f"seg-*{OPEN_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                continue
            # Never onto an earlier claim of the same name (a writer that found its segment
            # claimed recreates it under the same name): rename would replace that file.
            target = path.with_suffix(REPLAY_SUFFIX)
            while target.exists():
                target = path.with_name(f"{path.stem}-{time.time_ns()}{REPLAY_SUFFIX}")
            os.rename(path, target)
        finally:
            os.close(fd)
    _fsync_dir(directory)
    return sorted(directory.glob(f"seg-*{REPLAY_SUFFIX}"))


def segment_remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class JournalStatus:
    segments: int
    records: int
    bytes: int
    oldest_received_at: datetime | None


def journal_status_read(directory: Path | None = None) -> JournalStatus:
    """What the journal holds now (open and claimed segments). Reads every segment."""
    directory = directory or journal_dir()
    segments = records = size = 0
    oldest: datetime | None = None
    if directory.is_dir():
        for path in directory.glob("seg-*"):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if not data:
                continue
            segments += 1
            size += len(data)
            for record in records_decode(data):
                records += 1
                if oldest is None or record.received_at < oldest:
                    oldest = record.received_at
    return JournalStatus(segments=segments, records=records, bytes=size, oldest_received_at=oldest)


def journal_has_segments() -> bool:
    """Any segment holding bytes (an empty one, from a crash before its first write, holds
    nothing to replay)."""
    directory = journal_dir()
    if not directory.is_dir():
        return False
    for path in directory.glob("seg-*"):
        try:
            if path.stat().st_size:
                return True
        except FileNotFoundError:
            continue
    return False
