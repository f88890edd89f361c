"""Resolve Airflow connections into what clients need (a libpq DSN, a base URL + secret).

Works inside a task (through the task SDK) and outside one (scripts, tests), where
Airflow reads the same `AIRFLOW_CONN_*` variables from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def get_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook  # heavy import: only when a connection is needed

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own not-found type depending on context
        raise LookupError(
            f"Airflow connection '{conn_id}' is not defined: set AIRFLOW_CONN_{conn_id.upper()} "
            "(see .env.example) or add it in the Airflow UI"
        ) from exc


def postgres_params(conn_id: str) -> dict[str, object]:
    """libpq parameters of a Postgres connection (the database is in `schema`, as Airflow stores it)."""
    conn = get_connection(conn_id)
    params: dict[str, object] = {
        "host": conn.host or "localhost",
        "port": conn.port or 5432,
        "dbname": conn.schema or "postgres",
        "user": conn.login,
        "password": conn.password,
    }
    extra = conn.extra_dejson or {}
    for key in ("sslmode", "sslrootcert", "connect_timeout"):
        if key in extra:
            params[key] = extra[key]
    return {k: v for k, v in params.items() if v not in (None, "")}


def postgres_dsn(conn_id: str) -> str:
    """libpq key=value DSN for a Postgres connection."""
    params = {**postgres_params(conn_id), "application_name": f"cs_analytics:{conn_id}"}
    return " ".join(f"{k}={_quote(v)}" for k, v in params.items())


def role_postgres_dsn(conn_id: str, base_conn_id: str) -> str:
    """DSN of a role's connection that may give only a login and password: the host, port,
    database and TLS settings it leaves out are the `base_conn_id` connection's (the owner's),
    so pointing the owner's connection elsewhere moves every role with it."""
    params = {**postgres_params(base_conn_id), **_given(conn_id)}
    params["application_name"] = f"cs_analytics:{conn_id}"
    return " ".join(f"{k}={_quote(v)}" for k, v in params.items())


def _given(conn_id: str) -> dict[str, object]:
    conn = get_connection(conn_id)
    given: dict[str, object] = {
        "host": conn.host,
        "port": conn.port,
        "dbname": conn.schema,
        "user": conn.login,
        "password": conn.password,
    }
    given.update(
        {k: v for k, v in (conn.extra_dejson or {}).items() if k in ("sslmode", "sslrootcert", "connect_timeout")}
    )
    return {k: v for k, v in given.items() if v not in (None, "")}


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN or URL -> SQLAlchemy URL (psycopg2 driver), for tools that want one (Great Expectations)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(dsn.replace("postgresql+psycopg2://", "postgresql://"))
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    host = p.get("host") or "localhost"
    port = p.get("port") or 5432
    query = "&".join(f"{k}={quote(str(p[k]))}" for k in ("sslmode", "sslrootcert", "connect_timeout") if k in p)
    return f"postgresql+psycopg2://{auth}@{host}:{port}/{p.get('dbname', 'postgres')}" + (f"?{query}" if query else "")


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


@dataclass(frozen=True)
class HttpEndpoint:
    conn_id: str
    base_url: str
    token: str | None


def http_endpoint(conn_id: str) -> HttpEndpoint:
    conn = get_connection(conn_id)
    scheme = conn.schema or "https"
    host = conn.host or ""
    if "://" in host:  # a host given as a full URL
        base = host.rstrip("/")
    else:
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    return HttpEndpoint(conn_id=conn_id, base_url=base, token=conn.password or None)
