"""Backing stores of the simulated HTTP source systems (CRM and mobile app).

The generator writes them; the HTTP servers read them on every request (and the
test fault switches mutate them), so a record changed while a client pages is seen
exactly as it would be on the real system. SQLite in WAL mode lets one writer and
many readers work at once.

Timestamps are stored as ISO-8601 UTC strings with milliseconds and a trailing Z
(`2025-03-04T07:12:33.120Z`): they sort lexically in time order.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CRM_OBJECT_TYPES = ("contacts", "tickets", "feedback_submissions", "p_survey_invitations", "tasks")
APP_RESOURCES = ("technicians", "interventions", "field-quotes", "time-entries")

_CRM_SCHEMA = """
create table if not exists objects (
    object_type text not null,
    id          text not null,
    properties  text not null,          -- JSON object, every value a string or null (HubSpot style)
    created_at  text not null,
    updated_at  text not null,          -- canonical (canonical_instant): the search's modified-date index
    archived    integer not null default 0,
    primary key (object_type, id)
);
create index if not exists objects_by_updated on objects (object_type, updated_at, id);
-- the list endpoint pages by numeric id (HubSpot's `after`); without this index every page scanned and
-- sorted the whole object type: 0.3-0.5 s a page at scale 10, quadratic in the backfill (0.3 ms with it)
create index if not exists objects_by_number on objects (object_type, archived, cast(id as integer));
create table if not exists associations (
    from_type text not null, from_id text not null,
    to_type   text not null, to_id   text not null,
    primary key (from_type, from_id, to_type, to_id)
);
create table if not exists owners (
    id text primary key, email text, first_name text, last_name text, user_id integer,
    created_at text not null, updated_at text not null, archived integer not null default 0
);
create table if not exists properties (
    object_type text not null, name text not null, label text, type text, field_type text,
    primary key (object_type, name)
);
"""

_APP_SCHEMA = "\n".join(
    f"""
create table if not exists "{r}" (
    id         text primary key,
    updated_at text not null,
    payload    text not null            -- JSON object exactly as the API returns it
);
create index if not exists "{r}_by_updated" on "{r}" (updated_at, id);"""
    for r in APP_RESOURCES
)


def sim_data_dir() -> Path:
    return Path(os.environ.get("SIM_DATA_DIR", Path(__file__).resolve().parents[1] / ".local" / "sim"))


def crm_store_path() -> Path:
    return sim_data_dir() / "crm.sqlite"


def app_store_path() -> Path:
    return sim_data_dir() / "mobile_app.sqlite"


def iso_utc(ts: datetime) -> str:
    """`2025-03-04T07:12:33.120Z`; naive datetimes are taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def canonical_instant(value: str) -> str:
    """An ISO-8601 instant in the store's format (the CRM search compares `updated_at` as text)."""
    if len(value) == 24 and value[10] == "T" and value[19] == "." and value.endswith("Z"):
        return value
    return iso_utc(datetime.fromisoformat(value))


def now_iso() -> str:
    return iso_utc(datetime.now(UTC))


def connect(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.executescript(schema)
    return conn


def connect_crm(path: Path | None = None) -> sqlite3.Connection:
    return connect(path or crm_store_path(), _CRM_SCHEMA)


def connect_app(path: Path | None = None) -> sqlite3.Connection:
    return connect(path or app_store_path(), _APP_SCHEMA)


# ----------------------------------------------------------------------------- writers
def _str_props(props: Mapping[str, Any]) -> str:
    # HubSpot returns every property value as a string (or null).
    return json.dumps({k: (None if v is None else v if isinstance(v, str) else _to_str(v)) for k, v in props.items()})


def _to_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return iso_utc(v)
    return str(v)


def upsert_crm_objects(conn: sqlite3.Connection, object_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """rows: {id, properties, created_at, updated_at, archived?}; timestamps as ISO strings."""
    data = [
        (
            object_type,
            str(r["id"]),
            _str_props(r["properties"]),
            r["created_at"],
            canonical_instant(r["updated_at"]),
            int(bool(r.get("archived", False))),
        )
        for r in rows
    ]
    conn.execute("begin")
    conn.executemany(
        "insert or replace into objects (object_type, id, properties, created_at, updated_at, archived) "
        "values (?, ?, ?, ?, ?, ?)",
        data,
    )
    conn.execute("commit")
    return len(data)


def _json_nulls(value: Any) -> Any:
    """A JSON API sends null, never NaN: missing values from pandas become None."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Mapping):
        return {k: _json_nulls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_nulls(v) for v in value]
    return value


def upsert_app_records(conn: sqlite3.Connection, resource: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """rows: API payloads, each with `id` and `updated_at` (ISO string)."""
    data = [
        (str(r["id"]), r["updated_at"], json.dumps(_json_nulls(r), ensure_ascii=False, allow_nan=False)) for r in rows
    ]
    conn.execute("begin")
    conn.executemany(f'insert or replace into "{resource}" (id, updated_at, payload) values (?, ?, ?)', data)
    conn.execute("commit")
    return len(data)


def replace_crm_associations(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str, str]]) -> int:
    """rows: (from_type, from_id, to_type, to_id)."""
    data = list(rows)
    conn.execute("begin")
    conn.executemany(
        "insert or replace into associations (from_type, from_id, to_type, to_id) values (?, ?, ?, ?)", data
    )
    conn.execute("commit")
    return len(data)


def upsert_crm_owners(conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """rows: {id, email, first_name, last_name, user_id, created_at, updated_at, archived?}."""
    data = [
        (
            str(r["id"]),
            r["email"],
            r["first_name"],
            r["last_name"],
            int(r["user_id"]),
            r["created_at"],
            r["updated_at"],
            int(bool(r.get("archived", False))),
        )
        for r in rows
    ]
    conn.execute("begin")
    conn.executemany(
        "insert or replace into owners (id, email, first_name, last_name, user_id, created_at, updated_at, archived) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)",
        data,
    )
    conn.execute("commit")
    return len(data)


def upsert_crm_properties(conn: sqlite3.Connection, object_type: str, rows: Iterable[Mapping[str, str]]) -> int:
    """rows: {name, label, type, field_type} — the property catalogue `GET /crm/v3/properties/{type}` serves."""
    data = [(object_type, r["name"], r["label"], r["type"], r["field_type"]) for r in rows]
    conn.execute("begin")
    conn.executemany(
        "insert or replace into properties (object_type, name, label, type, field_type) values (?, ?, ?, ?, ?)", data
    )
    conn.execute("commit")
    return len(data)
