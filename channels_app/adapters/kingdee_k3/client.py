"""Kingdee K/3 intermediate table over a second database connection (psycopg).

Watermark by the update-time column with an overlap window: each run re-reads from
``watermark - overlap``, so a row that committed late with an older time is still found;
the inbox dedupe key ``<fid>@<frowversion>`` makes the re-read rows no-ops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from channels_app.adapters.base import AccountConfig
from channels_app.adapters.kingdee_k3.mapping import DEFAULT_TABLE, DEFAULT_WRITEBACK_TABLE
from channels_app.http import HttpClient, TerminalError, TransientError
from channels_app.outbound.base import WriteRequest, WriteResult, writers
from channels_app.pull.base import (
    ChannelRecord,
    Page,
    PullContext,
    PulledMessage,
    StoredPush,
    pullers,
)

PAGE_SIZE = 500
COLUMNS = (
    "fid",
    "fchannel",
    "fbillno",
    "fstatus",
    "fcarrier",
    "flogisticsno",
    "fmodifytime",
    "frowversion",
)
EPOCH = "1970-01-01T00:00:00+00:00"


def _connect(account: AccountConfig) -> psycopg.Connection[dict[str, Any]]:
    dsn = account.secrets.get("dsn", "")
    try:
        return psycopg.connect(dsn, connect_timeout=5, row_factory=dict_row, autocommit=True)
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "password authentication failed" in text or "does not exist" in text:
            raise TerminalError(f"ERP database refused the connection: {text[:300]}") from exc
        raise TransientError(f"ERP database unreachable: {text[:300]}") from exc


def _row_message(row: Mapping[str, Any]) -> PulledMessage:
    plain = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    return PulledMessage(
        f"{row['fid']}@{row['frowversion']}",
        "erp_row",
        json.dumps({"row": plain}, ensure_ascii=False, separators=(",", ":")).encode(),
    )


class KingdeeK3Puller:
    """Cursor ``{"watermark", "scan_time", "scan_fid"}``: keyset paging by (time, fid).

    Reconciliation compares row versions (``<fid>@<frowversion>``) with the inbox.
    """

    push_batch = 0  # completes no pushes

    reconcile_by = "inbox"

    def __init__(self, account: AccountConfig, context: PullContext) -> None:
        self.account = account
        self.context = context
        self.table = account.options.get("table") or DEFAULT_TABLE
        self.page_size = int(account.options.get("page_size") or PAGE_SIZE)
        self.overlap = timedelta(seconds=float(account.options.get("overlap_seconds") or 300))

    def _select(self, where: sql.Composable, params: list[Any], limit: int | None) -> list[Any]:
        query = sql.SQL(
            "SELECT {cols} FROM {table} WHERE {where} ORDER BY fmodifytime, fid"
        ).format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
            table=sql.Identifier(self.table),
            where=where,
        )
        if limit:
            query = query + sql.SQL(" LIMIT {}").format(sql.Literal(limit))
        with _connect(self.account) as connection:
            try:
                return list(connection.execute(query, params).fetchall())
            except psycopg.errors.UndefinedTable as exc:
                raise TerminalError(f"ERP table {self.table!r} does not exist") from exc
            except psycopg.OperationalError as exc:
                raise TransientError(f"ERP read failed: {exc}") from exc

    def page(self, cursor: Mapping[str, Any], pushes: Sequence[StoredPush] = ()) -> Page:
        watermark = datetime.fromisoformat(str(cursor.get("watermark") or EPOCH))
        if cursor.get("scan_time"):
            scan_time = datetime.fromisoformat(str(cursor["scan_time"]))
            scan_fid = int(cursor.get("scan_fid") or 0)
        else:
            scan_time, scan_fid = watermark - self.overlap, 0
        rows = self._select(
            sql.SQL("(fmodifytime, fid) > (%s, %s)"), [scan_time, scan_fid], self.page_size
        )
        messages = tuple(_row_message(row) for row in rows)
        if rows:
            watermark = max(watermark, rows[-1]["fmodifytime"])
        if len(rows) == self.page_size:
            last = rows[-1]
            return Page(
                messages,
                {
                    "watermark": watermark.isoformat(),
                    "scan_time": last["fmodifytime"].isoformat(),
                    "scan_fid": last["fid"],
                },
                False,
            )
        return Page(messages, {"watermark": watermark.isoformat()}, True)

    def channel_list(self, start: datetime, end: datetime) -> list[ChannelRecord]:
        rows = self._select(sql.SQL("fmodifytime >= %s AND fmodifytime < %s"), [start, end], None)
        return [
            ChannelRecord(f"{row['fid']}@{row['frowversion']}", str(row["fstatus"])) for row in rows
        ]

    def fetch(self, external_ids: list[str]) -> list[PulledMessage]:
        ids = sorted({int(i.split("@", 1)[0]) for i in external_ids})
        rows = self._select(sql.SQL("fid = ANY(%s)"), [ids], None)
        return [_row_message(row) for row in rows]


pullers.add("kingdee_k3", KingdeeK3Puller)


@writers.register("kingdee_k3")
def kingdee_k3_write(
    account: AccountConfig, http: HttpClient, request: WriteRequest
) -> WriteResult:
    """One row into the ERP's write-back table, keyed by our idempotency key (ON CONFLICT DO
    NOTHING): a re-send after a crash finds the row and is ``already_done``."""
    table = account.options.get("writeback_table") or DEFAULT_WRITEBACK_TABLE
    payload = {**request.payload, "milestone": request.milestone}
    body = json.dumps(payload, ensure_ascii=False, default=str)
    query = sql.SQL(
        "INSERT INTO {table} (fidempotencykey, fchannel, fbillno, faction, fpayload) "
        "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (fidempotencykey) DO NOTHING RETURNING fid"
    ).format(table=sql.Identifier(table))
    recorder = http.recorder
    call_id = (
        recorder.start(operation="erp.writeback", method="SQL", url=table, body=body)
        if recorder
        else None
    )
    started = time.monotonic()
    with _connect(account) as connection:
        try:
            row = connection.execute(
                query,
                [
                    request.idempotency_key,
                    request.payload.get("channel", ""),
                    request.external_id,
                    request.action,
                    body,
                ],
            ).fetchone()
        except psycopg.OperationalError as exc:
            raise TransientError(f"ERP write failed: {exc}") from exc
    if recorder and call_id is not None:
        recorder.finish(
            call_id,
            status=None,
            body=json.dumps(row, default=str) if row else "conflict",
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome="acknowledged" if row else "already_done",
        )
    return WriteResult(
        already_done=row is None,
        remote_ref=str(row["fid"]) if row else "",
        raw_status=f"writeback:{request.action}",
    )
