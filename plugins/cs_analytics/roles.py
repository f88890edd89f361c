"""Least privilege in the warehouse: one role per flow, created and granted here, in one place.

The owner (the `warehouse` connection: it owns the database and every schema) runs this setup;
each flow then works through its own role (`warehouse_<flow>` connections, config.py):

| role          | writes                                         | reads                                          |
|---------------|------------------------------------------------|------------------------------------------------|
| `loader`      | raw_* (owns their tables), its meta tables     | -                                              |
| `transformer` | staging, intermediate, marts_build, snapshots, | raw_*, ml, the CTI manifest in meta            |
|               | reference, the dbt target schema (owns them)   |                                                |
| `ml`          | ml (rows, not DDL)                             | marts, the staging views dbt grants it         |
| `alerting`    | meta's outbox, its attempts and images,        | marts, marts_pii, ml, staging, intermediate,   |
|               | alert_state                                    | reference, the quality gate's runs and results |
| `bi_reader`   | -                                              | marts (transform/bi_access.py)                 |

No flow role may create a schema (no CREATE on the database) nor anything in `public`; only
`loader`, `transformer` and `ml` may create temporary tables (the loaders' and dbt's merges, the
anomaly merge). Customer e-mails and phones in clear are in `marts_pii`, which only `alerting` reads
(the churn e-mail, the CRM call tasks); the marts carry a masked value and a hash.

Idempotent: roles are created when missing, then passwords, grants, default privileges and
ownership re-asserted, so a warehouse built before the roles (every object owned by the
owner) is upgraded in place. `ensure_roles` is cheap once done: a catalog check, no lock.
The passwords come from the flows' own connections, and psycopg composes them client-side:
nothing here writes one to a log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

import psycopg
from psycopg import sql

from cs_analytics.warehouse import Warehouse, retry_cluster_race

log = logging.getLogger(__name__)

LOADER, TRANSFORMER, ML, ALERTING = "loader", "transformer", "ml", "alerting"
FLOW_ROLES = (LOADER, TRANSFORMER, ML, ALERTING)

RAW_SCHEMAS = ("raw_app", "raw_crm", "raw_cti", "raw_erp", "raw_mailbox", "raw_portal", "raw_weather")
DBT_SCHEMAS = ("staging", "intermediate", "marts_build", "snapshots", "reference")
PII_SCHEMA = "marts_pii"
# meta tables each flow writes (schema.py creates them); the rest of meta is the owner's (quality gate)
LOADER_META = (
    "watermarks",
    "load_batches",
    "source_reconciliation",
    "quarantine",
    "cti_files",
    "cti_duplicate_deliveries",
    "cti_held_files",
    "sync_cursors",
)
ALERTING_META = ("outbox", "outbox_images", "outbox_attempts", "alert_state")
ALERTING_READS_DBT = ("staging", "intermediate", "reference")
ALERTING_READS_META = ("dq_runs", "dq_results", "dq_latest_warnings")
TRANSFORMER_READS_META = ("cti_files", "cti_duplicate_deliveries", "cti_held_files", "quarantine", "load_batches")
# The staging views ML reads (ERP anomalies); staging is otherwise closed to it. dbt re-grants them on
# every build (post_hook grant_select_to in models/staging/erp/_erp__models.yml; a test holds both equal).
ML_STAGING = ("stg_erp__document_lines", "stg_erp__items")
DML = "select, insert, update, delete, truncate"
# Bumped when the grants below change: the fast path then applies them again.
VERSION = "2"
MARKER = "cs_analytics.roles"


def _dbt_schemas() -> tuple[str, ...]:
    from cs_analytics.config import dbt_target_schema

    return (*DBT_SCHEMAS, dbt_target_schema())


def _fingerprint() -> str:
    from cs_analytics.schema import DDL_SHA256

    parts = [VERSION, DDL_SHA256, *RAW_SCHEMAS, *_dbt_schemas(), *LOADER_META, *ALERTING_META]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def is_current(conn: psycopg.Connection) -> bool:
    """Setup done for this code: the marker matches, every role exists, and the raw and dbt
    relations belong to the loader and the transformer (one the owner created - a single-role run,
    dbt on the command line - is handed over, else the role could not replace or alter it)."""
    roles = conn.execute("select count(*) from pg_roles where rolname = any(%s)", (list(FLOW_ROLES),)).fetchone()[0]
    if roles < len(FLOW_ROLES):
        return False
    if conn.execute("select to_regclass('meta.schema_version') is null").fetchone()[0]:
        return False
    row = conn.execute("select ddl_sha256 from meta.schema_version where name = %s", (MARKER,)).fetchone()
    if row is None or row[0] != _fingerprint():
        return False
    misowned = conn.execute(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p', 'v', 'm', 'f') and ("
        "(n.nspname = any(%s) and c.relowner <> %s::regrole) or (n.nspname = any(%s) and c.relowner <> %s::regrole))",
        (list(RAW_SCHEMAS), LOADER, list(_dbt_schemas()), TRANSFORMER),
    ).fetchone()[0]
    return misowned == 0


def ensure_roles(warehouse: Warehouse, passwords: Mapping[str, str]) -> dict[str, object]:
    """Create or update the flow roles as the warehouse's owner; `passwords` maps each role to
    its password (a role without one keeps the password it has, or cannot log in if new)."""
    from cs_analytics.schema import ensure_schema

    unknown = set(passwords) - set(FLOW_ROLES)
    if unknown:
        raise ValueError(f"unknown warehouse roles {sorted(unknown)}; known: {', '.join(FLOW_ROLES)}")
    ensure_schema(warehouse)  # meta and ml exist before they are granted
    return retry_cluster_race(lambda: _apply(warehouse, passwords))


def _apply(warehouse: Warehouse, passwords: Mapping[str, str]) -> dict[str, object]:
    I, L = sql.Identifier, sql.Literal  # noqa: E741 - short names keep the grants readable
    with warehouse.transaction() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.roles'))")
        owner = conn.execute("select current_user").fetchone()[0]
        database = conn.execute("select current_database()").fetchone()[0]
        run = lambda q, *args: conn.execute(sql.SQL(q).format(*args))  # noqa: E731
        for role in FLOW_ROLES:
            if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                # a new role is NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION by default
                run("create role {} nologin noinherit", I(role))
            if passwords.get(role):
                run("alter role {} with login noinherit password {}", I(role), L(passwords[role]))
            # The owner steps into each role: to hand it its objects and set its default privileges.
            if not conn.execute("select pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()[0]:
                run("grant {} to {}", I(role), I(owner))
        roles = sql.SQL(", ").join(map(I, FLOW_ROLES))
        db = I(database)
        run("grant connect on database {} to {}", db, roles)
        # PUBLIC's defaults: no schema in `public`, no temporary tables, except where a flow needs them
        run("revoke create on database {} from public", db)
        run("revoke temporary on database {} from public", db)
        run("revoke temporary on database {} from {}", db, I(ALERTING))
        run("grant temporary on database {} to {}", db, sql.SQL(", ").join(map(I, (LOADER, TRANSFORMER, ML))))
        run("revoke create on schema public from public")

        dbt_schemas = _dbt_schemas()
        for schema in (*RAW_SCHEMAS, *dbt_schemas, "meta", "ml", "marts", PII_SCHEMA):
            run("create schema if not exists {}", I(schema))
        # Start from nothing on every schema, so a privilege removed here is removed there: without
        # USAGE on a schema its tables are out of reach. Table privileges are reset where the owner
        # owns the tables (a revoke on a flow's own tables would strip the flow of its own rights).
        for schema in (*RAW_SCHEMAS, *dbt_schemas, "meta", "ml", "marts", PII_SCHEMA):
            run("revoke all on schema {} from {}", I(schema), roles)
        for schema in ("meta", "ml", "marts", PII_SCHEMA):
            run("revoke all on all tables in schema {} from {}", I(schema), roles)

        handed = 0
        # raw_*: the loader creates and owns the tables, dbt reads them
        for schema in RAW_SCHEMAS:
            s = I(schema)
            run("grant usage, create on schema {} to {}", s, I(LOADER))
            run("grant usage on schema {} to {}", s, I(TRANSFORMER))
            handed += _hand_over(conn, schema, LOADER)
            run("grant select on all tables in schema {} to {}", s, I(TRANSFORMER))
            for creator in (LOADER, owner):
                run("alter default privileges for role {} in schema {} grant select on tables to {}",
                    I(creator), s, I(TRANSFORMER))  # fmt: skip

        # dbt's schemas: the transformer creates and owns them; alerting reads staging, intermediate
        # (rules on open tickets and surveys, the CRM opt-out) and the reference lists (reports)
        for schema in dbt_schemas:
            s = I(schema)
            run("grant usage, create on schema {} to {}", s, I(TRANSFORMER))
            handed += _hand_over(conn, schema, TRANSFORMER)
            if schema in ALERTING_READS_DBT:
                run("grant usage on schema {} to {}", s, I(ALERTING))
                run("grant select on all tables in schema {} to {}", s, I(ALERTING))
                for creator in (TRANSFORMER, owner):
                    run("alter default privileges for role {} in schema {} grant select on tables to {}",
                        I(creator), s, I(ALERTING))  # fmt: skip
        run("grant usage on schema staging to {}", I(ML))
        _grant_tables(conn, "staging", ML_STAGING, "select", ML)

        # meta: each flow its tables; every flow reads the schema's version (schema.ensure_schema)
        run("grant usage on schema meta to {}", roles)
        run("grant select on meta.schema_version to {}", roles)
        _grant_tables(conn, "meta", LOADER_META, DML, LOADER)
        _grant_tables(conn, "meta", ALERTING_META, DML, ALERTING)
        _grant_tables(conn, "meta", ALERTING_READS_META, "select", ALERTING)
        _grant_tables(conn, "meta", TRANSFORMER_READS_META, "select", TRANSFORMER)
        run("revoke all on all sequences in schema meta from {}", roles)
        run("grant usage, select on all sequences in schema meta to {}, {}", I(LOADER), I(ALERTING))

        # ml: the models' rows (the DDL is schema.py's, applied by the owner)
        run("grant usage on schema ml to {}, {}, {}", I(ML), I(TRANSFORMER), I(ALERTING))
        run("grant " + DML + " on all tables in schema ml to {}", I(ML))
        run("grant select on all tables in schema ml to {}, {}", I(TRANSFORMER), I(ALERTING))
        run("alter default privileges for role {} in schema ml grant " + DML + " on tables to {}", I(owner), I(ML))
        run("alter default privileges for role {} in schema ml grant select on tables to {}, {}",
            I(owner), I(TRANSFORMER), I(ALERTING))  # fmt: skip

        # marts (published by the owner, transform/publish.py) and the clear PII beside them
        run("grant usage on schema marts to {}, {}", I(ML), I(ALERTING))
        run("grant select on all tables in schema marts to {}, {}", I(ML), I(ALERTING))
        run("alter default privileges for role {} in schema marts grant select on tables to {}, {}",
            I(owner), I(ML), I(ALERTING))  # fmt: skip
        run("grant usage on schema {} to {}", I(PII_SCHEMA), I(ALERTING))
        run("grant select on all tables in schema {} to {}", I(PII_SCHEMA), I(ALERTING))
        run("alter default privileges for role {} in schema {} grant select on tables to {}",
            I(owner), I(PII_SCHEMA), I(ALERTING))  # fmt: skip

        conn.execute(
            "insert into meta.schema_version (name, ddl_sha256) values (%s, %s) "
            "on conflict (name) do update set ddl_sha256 = excluded.ddl_sha256, applied_at = now()",
            (MARKER, _fingerprint()),
        )
    log.info("warehouse roles %s set up in %s (%d relations handed over)", ", ".join(FLOW_ROLES), database, handed)
    return {"database": database, "owner": owner, "roles": list(FLOW_ROLES), "handed_over": handed}


_ALTER = {"r": "table", "p": "table", "f": "foreign table", "v": "view", "m": "materialized view"}


def _hand_over(conn: psycopg.Connection, schema: str, role: str) -> int:
    """Make `role` the owner of every relation of `schema` (dbt replaces its own tables, a loader
    alters its own): objects created before the roles existed belonged to the owner."""
    rows = conn.execute(
        "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = any(%s) and c.relowner <> %s::regrole order by 1",
        (schema, list(_ALTER), role),
    ).fetchall()
    for name, kind in rows:
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(_ALTER[kind]), sql.Identifier(schema, name), sql.Identifier(role)
            )
        )
    return len(rows)


def _grant_tables(conn: psycopg.Connection, schema: str, tables: tuple[str, ...], privileges: str, role: str) -> None:
    for table in tables:
        if conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()[0]:
            conn.execute(
                sql.SQL("grant " + privileges + " on {} to {}").format(
                    sql.Identifier(schema, table), sql.Identifier(role)
                )
            )


# ----------------------------------------------------------------------------- flows
def flow_warehouse(flow: str) -> Warehouse:
    """The warehouse as `flow` (loader, transformer, ml, alerting) reaches it: through its role's
    connection, after a cheap check that the owner's setup is current (a fresh or older warehouse
    is set up first, as the owner). WAREHOUSE_SINGLE_ROLE=true: everything as the owner."""
    from cs_analytics.config import WAREHOUSE_CONN_ID, single_role, warehouse_role_conn_id
    from cs_analytics.connections import postgres_dsn, role_postgres_dsn

    owner = Warehouse(postgres_dsn(WAREHOUSE_CONN_ID))
    if single_role():
        return owner
    if flow not in FLOW_ROLES:
        raise ValueError(f"unknown flow {flow!r}; known: {', '.join(FLOW_ROLES)}")
    role = Warehouse(role_postgres_dsn(warehouse_role_conn_id(flow), WAREHOUSE_CONN_ID))
    with owner.connect(autocommit=True) as conn:
        current = is_current(conn)
    if not current:
        setup(owner)
    try:
        role.connect().close()
    except psycopg.OperationalError as exc:
        if "password authentication failed" not in str(exc):
            raise
        setup(owner)  # the role's password changed in its connection: set it again
    return role


def role_passwords() -> dict[str, str]:
    """Each flow role's password, from its Airflow connection (the one the flow logs in with)."""
    from cs_analytics.config import warehouse_role_conn_id
    from cs_analytics.connections import get_connection

    out = {}
    for flow in FLOW_ROLES:
        conn = get_connection(warehouse_role_conn_id(flow))
        if (conn.login or flow) != flow:
            raise ValueError(
                f"connection {warehouse_role_conn_id(flow)} logs in as {conn.login!r}: the {flow} flow's role is {flow!r}"
            )
        out[flow] = conn.password or ""
    return out


def setup(owner: Warehouse | None = None) -> dict[str, object]:
    """The `warehouse_setup` step: the flow roles (passwords from their connections) and bi_reader."""
    from cs_analytics.config import WAREHOUSE_CONN_ID, bi_reader_password
    from cs_analytics.connections import postgres_dsn
    from cs_analytics.transform.bi_access import ensure_bi_reader

    owner = owner or Warehouse(postgres_dsn(WAREHOUSE_CONN_ID))
    result = ensure_roles(owner, role_passwords())
    if bi_reader_password():
        result["bi_reader"] = ensure_bi_reader(owner)
    return result


def main() -> None:
    """`python -m cs_analytics.roles`: set the roles up on the warehouse (make up does it)."""
    import json

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(setup(), indent=2, default=str))


if __name__ == "__main__":
    main()
