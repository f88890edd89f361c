"""Warehouse I/O: connections, bulk COPY, and the `meta` schema (watermarks, batches, quarantine).

Every load goes through PostgreSQL COPY (never row-by-row INSERTs). Rows are
rendered to COPY's text format here, in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg

from cs_analytics.config import WAREHOUSE_CONN_ID

META_DDL = """
create schema if not exists meta;

-- One row per (source, object): the highest source timestamp loaded. Advanced only in
-- the transaction that loads the rows, so a failed run never skips data.
create table if not exists meta.watermarks (
    source      text not null,
    object      text not null,
    watermark   timestamptz,
    batch_id    text not null,
    updated_at  timestamptz not null default now(),
    primary key (source, object)
);

-- One row per load task attempt that committed.
create table if not exists meta.load_batches (
    batch_id          text primary key,
    source            text not null,
    object            text not null,
    dag_id            text,
    run_id            text,
    interval_start    timestamptz,
    interval_end      timestamptz,
    window_start      timestamptz,
    window_end        timestamptz,
    rows_read         integer not null default 0,
    rows_inserted     integer not null default 0,
    rows_updated      integer not null default 0,
    rows_unchanged    integer not null default 0,
    rows_quarantined  integer not null default 0,
    started_at        timestamptz not null,
    finished_at       timestamptz,
    detail            jsonb not null default '{}'
);

-- Rows that could not be loaded, with the reason and where they came from. Keyed on the
-- location, so re-running a load never duplicates an entry.
create table if not exists meta.quarantine (
    quarantine_id   bigserial primary key,
    source          text not null,
    object          text not null,
    location        text not null,
    reason          text not null,
    raw_record      text,
    batch_id        text not null,
    first_seen_at   timestamptz not null default now(),
    last_seen_at    timestamptz not null default now(),
    -- set when the same record later loads (fixed at the source, or superseded by a re-delivery)
    resolved_at     timestamptz,
    resolved_by     text,
    unique (source, object, location)
);

-- Warehouses created before these columns existed.
alter table meta.quarantine add column if not exists resolved_at timestamptz;
alter table meta.quarantine add column if not exists resolved_by text;

-- Every CDR file seen in the landing folder, identified by content hash.
create table if not exists meta.cti_files (
    sha256            text primary key,
    file_name         text not null,
    file_date         date,
    size_bytes        bigint not null,
    encoding_errors   integer not null default 0,
    rows_loaded       integer not null default 0,
    rows_quarantined  integer not null default 0,
    batch_id          text not null,
    loaded_at         timestamptz not null default now()
);

-- Sources read through a change feed (Microsoft Graph delta query): the link to resume from.
-- Replaced in the transaction that loads the changes it covers, like a watermark.
create table if not exists meta.sync_cursors (
    source      text not null,
    object      text not null,
    cursor      text,
    batch_id    text not null,
    updated_at  timestamptz not null default now(),
    primary key (source, object)
);

-- Deliveries of a file whose content was already loaded (same hash, any name).
create table if not exists meta.cti_duplicate_deliveries (
    file_name     text primary key,
    sha256        text not null references meta.cti_files (sha256),
    original_name text not null,
    batch_id      text not null,
    seen_at       timestamptz not null default now()
);
"""


class Warehouse:
    """A PostgreSQL database reached through an Airflow connection (or a DSN)."""

    def __init__(self, dsn: str):
        self.dsn = dsn

    @classmethod
    def from_connection(cls, conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
        from cs_analytics.connections import postgres_dsn

        return cls(postgres_dsn(conn_id))

    def connect(self, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=autocommit)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection whose work commits on success and rolls back on any error."""
        with self.connect() as conn, conn.transaction():
            yield conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        with self.connect(autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None):
        import pandas as pd

        with self.connect(autocommit=True) as conn:
            cur = conn.execute(sql, params)
            cols = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=cols)

    def ensure_meta(self) -> None:
        with self.connect(autocommit=True) as conn:
            # Serialise concurrent first runs creating the same objects.
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.meta_ddl'))")
                conn.execute(META_DDL)


# ----------------------------------------------------------------------------- COPY text format
def _escape(text: str) -> str:
    # str.replace runs in C; str.translate with a mapping walks a non-ASCII string in Python (100x slower).
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_field(value: Any) -> str:
    """One value in PostgreSQL COPY text format (tab-separated, \\N for null)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return "\\N" if math.isnan(value) else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _escape(str(value))


def copy_line(values: Iterable[Any]) -> str:
    return "\t".join(map(copy_field, values)) + "\n"


def copy_rows(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Iterable[Any]],
    chunk_rows: int = 5000,
) -> int:
    """COPY rows into `table`; streams in chunks so memory stays flat. Returns rows written."""
    cols = ", ".join(columns)
    n = 0
    with cur.copy(f"copy {table} ({cols}) from stdin") as copy:
        buf: list[str] = []
        for row in rows:
            buf.append(copy_line(row))
            n += 1
            if len(buf) >= chunk_rows:
                copy.write("".join(buf))
                buf.clear()
        if buf:
            copy.write("".join(buf))
    return n


def drop_database(server_url: str, name: str, attempts: int = 60) -> None:
    """DROP DATABASE ... WITH (FORCE), retried: an autovacuum worker on a freshly loaded table
    cannot be terminated by a non-superuser, but it finishes within moments."""
    import time

    for attempt in range(attempts):
        try:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
