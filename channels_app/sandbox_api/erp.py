"""A sandbox ERP intermediate database for ``kingdee_k3`` on the same PostgreSQL server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

DDL = """
CREATE SEQUENCE IF NOT EXISTS t_orderhub_rowversion;
CREATE TABLE IF NOT EXISTS t_orderhub_order_sync (
    fid bigserial PRIMARY KEY,
    fchannel varchar(64) NOT NULL,
    fbillno varchar(128) NOT NULL,
    fstatus varchar(32) NOT NULL,
    fcarrier varchar(64) NOT NULL DEFAULT '',
    flogisticsno varchar(64) NOT NULL DEFAULT '',
    fmodifytime timestamptz NOT NULL DEFAULT clock_timestamp(),
    frowversion bigint NOT NULL DEFAULT nextval('t_orderhub_rowversion')
);
CREATE INDEX IF NOT EXISTS t_orderhub_order_sync_mod ON t_orderhub_order_sync (fmodifytime, fid);
CREATE TABLE IF NOT EXISTS t_orderhub_writeback (
    fid bigserial PRIMARY KEY,
    fidempotencykey varchar(200) NOT NULL UNIQUE,
    fchannel varchar(64) NOT NULL,
    fbillno varchar(128) NOT NULL,
    faction varchar(32) NOT NULL,
    fpayload jsonb NOT NULL,
    fcreatetime timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""


def erp_database_create(*, server_dsn: str, name: str) -> str:
    """Create (if missing) the database ``name`` with the intermediate tables; its DSN."""
    with psycopg.connect(server_dsn, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(server_dsn, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(DDL)
    return dsn


def erp_row_insert(
    connection: psycopg.Connection[Any],
    *,
    channel: str,
    bill_no: str,
    status: str,
    carrier: str = "",
    tracking: str = "",
    modified: datetime | None = None,
) -> int:
    """Insert one status row (in the caller's transaction: commit it when you want)."""
    row = connection.execute(
        "INSERT INTO t_orderhub_order_sync (fchannel, fbillno, fstatus, fcarrier, flogisticsno,"
        " fmodifytime) VALUES (%s, %s, %s, %s, %s, COALESCE(%s, clock_timestamp())) RETURNING fid",
        [channel, bill_no, status, carrier, tracking, modified],
    ).fetchone()
    assert row is not None
    return int(row[0])
