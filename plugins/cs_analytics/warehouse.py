"""Warehouse I/O: connections and bulk COPY. (The `meta` and `ml` tables: `schema.py`.)

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


class Warehouse:
    """A PostgreSQL database reached through an Airflow connection (or a DSN)."""

    def __init__(self, dsn: str):
        self.dsn = dsn

    @classmethod
    def from_connection(cls, conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
        from cs_analytics.connections import postgres_dsn

        return cls(postgres_dsn(conn_id))

    @classmethod
    def for_flow(cls, flow: str) -> Warehouse:
        """As a flow's role (loader, transformer, ml, alerting): see roles.flow_warehouse."""
        from cs_analytics.roles import flow_warehouse

        return flow_warehouse(flow)

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


def create_schema_if_missing(name: str) -> str:
    """SQL creating schema `name` unless it exists. Not CREATE SCHEMA IF NOT EXISTS: PostgreSQL checks
    the right to create schemas first, which a flow's role has not (the owner's setup made them)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain schema name: {name!r}")
    return f"do $$ begin if to_regnamespace('{name}') is null then create schema {name}; end if; end $$;"


def retry_cluster_race(apply, attempts: int = 5):
    """`apply()` again when it lost a race on a cluster-wide catalog row. Roles and databases belong
    to the cluster, and an advisory lock only serialises sessions of one database: two warehouses
    set up at once (a second environment, parallel tests) can update the same pg_authid row
    ("tuple concurrently updated") or create the same role (duplicate key); the second attempt
    finds the work done."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return apply()
        except (psycopg.errors.InternalError_, psycopg.errors.UniqueViolation) as exc:
            if attempt == attempts - 1 or "concurrently" not in str(exc) and "duplicate key" not in str(exc):
                raise
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # out of step with the other session
    raise AssertionError("unreachable")


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
    cannot be terminated by a non-superuser, but it finishes within moments; and another session
    may be revoking PUBLIC's rights on it (bi_access), which updates the same catalog row."""
    import time

    for attempt in range(attempts):
        try:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InternalError_) as exc:
            retryable = isinstance(exc, psycopg.errors.InsufficientPrivilege) or "concurrently" in str(exc)
            if attempt == attempts - 1 or not retryable:
                raise
            time.sleep(0.5)
