"""The read-only role BI tools (Metabase, Superset, Power BI) connect with.

`bi_reader` reads the `marts` schema, tables created there later included, and nothing
else: no raw_*, staging, intermediate, snapshots, reference, ml or meta, no temporary
tables, no other database of the cluster. Everything here is idempotent (create when
missing, then re-assert password, grants and revokes), so the transform DAG runs it after
every quality gate.

The role's `default_transaction_read_only` is a convenience, not a barrier: a session may
switch it off (`BEGIN READ WRITE`). The barriers are privileges, and PostgreSQL gives some
to PUBLIC — every role — by default: CONNECT and TEMP on every database. They are revoked
from PUBLIC here on every database the warehouse's owner owns except the warehouse (and TEMP
on the warehouse too); the databases a superuser owns (`postgres`, `template1`) are closed
by the local stack's `pg-up` and the compose init script. Owners keep their own rights.

Why Python and not a dbt macro: the password must not reach a log. dbt writes every query
a macro runs to its debug log, while psycopg composes the literal client-side and logs
nothing. The grants themselves are plain SQL below, readable in one place.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from cs_analytics.config import BI_READER_PASSWORD_ENV, bi_reader_password
from cs_analytics.warehouse import Warehouse, retry_cluster_race

log = logging.getLogger(__name__)

BI_ROLE = "bi_reader"
BI_SCHEMA = "marts"


def ensure_bi_reader(
    warehouse: Warehouse, password: str | None = None, role: str = BI_ROLE, schema: str = BI_SCHEMA
) -> dict[str, object]:
    """Create or update the role; returns what it can read (for the task log and tests)."""
    password = password if password is not None else bi_reader_password()
    if not password:
        raise ValueError(f"{BI_READER_PASSWORD_ENV} is not set: the {role} role needs a password")
    # The role (a cluster row) in a transaction of its own, committed at once: another warehouse's
    # run touching it meanwhile is the race retry_cluster_race retries, and that window stays short.
    retry_cluster_race(lambda: _apply_role(warehouse, password, role))
    # Each other database in a statement of its own: a transaction holding several pg_database
    # rows would deadlock with another warehouse's run closing this one.
    closed = _close_other_databases(warehouse)
    return {**retry_cluster_race(lambda: _apply(warehouse, role, schema)), "databases_closed": closed}


def _apply_role(warehouse: Warehouse, password: str, role: str) -> None:
    r = sql.Identifier(role)
    with warehouse.transaction() as conn:
        # Serialises this database's concurrent runs; other databases' runs: retry_cluster_race.
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.bi_reader'))")
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            # a new role is NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION by default
            conn.execute(sql.SQL("create role {} login noinherit").format(r))
        conn.execute(
            sql.SQL("alter role {} with login noinherit connection limit 20 password {}").format(
                r, sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(r))
        conn.execute(sql.SQL("alter role {} set statement_timeout = '120s'").format(r))


def _apply(warehouse: Warehouse, role: str, schema: str) -> dict[str, object]:
    r, s = sql.Identifier(role), sql.Identifier(schema)
    with warehouse.transaction() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.bi_reader'))")
        database = conn.execute("select current_database()").fetchone()[0]
        owner = conn.execute("select current_user").fetchone()[0]
        db = sql.Identifier(database)
        conn.execute(sql.SQL("grant connect on database {} to {}").format(db, r))
        # PUBLIC's default TEMP would let any session write temporary tables; the owner keeps its own.
        conn.execute(sql.SQL("revoke temporary on database {} from public").format(db))
        conn.execute(sql.SQL("create schema if not exists {}").format(s))
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, r))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(s, r))
        # Every dbt table build creates a new relation: default privileges cover them.
        conn.execute(
            sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
                sql.Identifier(owner), s, r
            )
        )
        others = [
            row[0]
            for row in conn.execute(
                "select nspname from pg_namespace where nspname <> %s "
                "and nspname not like 'pg\\_%%' and nspname <> 'information_schema'",
                (schema,),
            ).fetchall()
        ]
        for other in others:
            o = sql.Identifier(other)
            conn.execute(sql.SQL("revoke all on schema {} from {}").format(o, r))
            conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(o, r))
        readable = conn.execute(
            "select count(*) from information_schema.tables where table_schema = %s", (schema,)
        ).fetchone()[0]
        reachable = [
            row[0]
            for row in conn.execute(
                "select datname from pg_database where datallowconn and datname <> current_database() "
                "and has_database_privilege('public', datname, 'CONNECT') order by 1"
            ).fetchall()
        ]
    if reachable:
        log.warning(
            "%s can still connect to %s: every role may (PUBLIC's default CONNECT) and %s does not own them. "
            "As a superuser: REVOKE CONNECT, TEMPORARY ON DATABASE <name> FROM PUBLIC (scripts/stack.py pg-up "
            "does it on the local cluster).",
            role,
            ", ".join(reachable),
            owner,
        )
    log.info("%s: reads the %d relations of %s.%s and no other schema", role, readable, database, schema)
    return {
        "role": role,
        "database": database,
        "schema": schema,
        "relations": readable,
        "revoked_on": others,
        "databases_open_to_public": reachable,
    }


def _close_other_databases(warehouse: Warehouse) -> list[str]:
    """Revoke PUBLIC's CONNECT and TEMP on the other databases this user may revoke them on."""
    with warehouse.connect(autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                """
                select datname from pg_database
                where datallowconn and datname <> current_database()
                  and (datdba = (select oid from pg_roles where rolname = current_user)
                       or (select rolsuper from pg_roles where rolname = current_user))
                order by 1
                """
            ).fetchall()
        ]
        closed = []
        for name in names:
            try:
                conn.execute(
                    sql.SQL("revoke connect, temporary on database {} from public").format(sql.Identifier(name))
                )
                closed.append(name)
            except (psycopg.errors.InvalidCatalogName, psycopg.errors.InternalError_) as exc:
                # Dropped before the revoke ("does not exist") or during it ("cache lookup failed",
                # "tuple concurrently deleted"), or revoked by another warehouse's run at the same
                # moment ("tuple concurrently updated"): skipped; `databases_open_to_public`
                # reports any database still open.
                if not isinstance(exc, psycopg.errors.InvalidCatalogName) and not any(
                    why in str(exc) for why in ("cache lookup failed", "concurrently")
                ):
                    raise
                log.info("database %s changed or was dropped while closing the others: %s", name, exc)
    return closed
