"""The warehouse side of the quality gate: the `dq` schema of helper functions and of the
tables GX validates.

Every suite is validated on a table `dq.<suite>` that the gate rebuilds at the start of
each run (CREATE UNLOGGED TABLE AS SELECT ...): `_dq_key` (the row key, for GX's unexpected indexes and the
quarantine), then the columns to check — typed columns as they are, JSON payload fields
extracted with SQL — restricted, for `new_rows` suites, to the load batches no passed gate run
has validated. GX reads these tables through a SQL data source, so every
expectation is a query run by PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from cs_analytics.quality.specs import SuiteSpec

DQ_SCHEMA = "dq"

# The gate's toolbox in the warehouse: helper functions its suites' SQL calls. (Its history
# tables are in cs_analytics.schema.)
DQ_DDL = """
create schema if not exists dq;

-- Safe casts for JSON payload fields: null where the text is not a number / an instant,
-- so one malformed value shows up as an unexpected row instead of failing the query.
create or replace function dq.try_numeric(v text) returns numeric
language sql immutable parallel safe as $$
    select case when v ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$' then v::numeric end
$$;
-- ISO-8601 dates and instants only (what the APIs send), with the calendar checked by the
-- pattern (month 01-12, day within the month, 29 February in leap years), so the cast
-- never raises: pure SQL, inlined by the planner, parallel safe.
create or replace function dq.try_timestamptz(v text) returns timestamptz
language sql stable parallel safe as $$
    select case
        when v ~ '^[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-9]))([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$'
         and (substr(v, 6, 5) <> '02-29'
              or (substr(v, 1, 4)::int % 4 = 0 and (substr(v, 1, 4)::int % 100 <> 0 or substr(v, 1, 4)::int % 400 = 0)))
        then v::timestamptz end
$$;
drop function if exists dq._cast_timestamptz(text);
-- French phone numbers as the sources spell them (06 12 34 56 78, 06.12.34.56.78,
-- 0033612345678, +33 6 12 34 56 78) to E.164; anything else passes through unchanged.
create or replace function dq.fr_phone_e164(v text) returns text
language sql immutable parallel safe as $$
    select case
        when d ~ '^\\+[1-9][0-9]{6,14}$' then d
        when d ~ '^00[1-9][0-9]{6,14}$' then '+' || substr(d, 3)
        when d ~ '^0[1-9][0-9]{8}$' then '+33' || substr(d, 2)
        else v end
    from (select regexp_replace(v, '[\\s.()-]', '', 'g') as d) x
$$;

-- The volume band reads public holidays from dbt's calendar (mart_kpi_daily.is_public_holiday,
-- from dim_date); the gate no longer keeps a copy of its own.
drop table if exists dq.holidays;
"""


def ensure_dq_schema(wh) -> None:
    """The dq helper functions (idempotent; concurrent runs queue)."""
    with wh.transaction() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.dq_ddl'))")
        conn.execute(DQ_DDL)


def key_expression(spec: SuiteSpec, alias: str) -> sql.Composable:
    parts = [sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(k)) for k in spec.key]
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("concat_ws('|', {})").format(sql.SQL(", ").join(parts))


def suite_select(spec: SuiteSpec, validate_since: datetime, as_of: datetime, run_id: str = "") -> sql.Composable:
    """The SELECT behind dq.<suite>. `{as_of}` in a suite's SQL is the run's reference instant.
    A new_rows suite reads the rows of the batches this run listed to validate
    (meta.dq_run_batches, see history.open_run), and rows of no recorded batch loaded since
    `validate_since`."""

    def fill(text: str) -> sql.Composable:
        # Plain text substitution: suite SQL may hold braces (regex quantifiers) that
        # sql.SQL.format would read as placeholders. isoformat() has no quote to escape.
        return sql.SQL(text.strip().rstrip(";").replace("{as_of}", f"'{as_of.isoformat()}'::timestamptz"))

    if spec.sql:
        return sql.SQL("select {key} as _dq_key, q.* from (\n{body}\n) q").format(
            key=key_expression(spec, "q"), body=fill(spec.sql)
        )
    where = sql.SQL("")
    if spec.scope == "new_rows":
        where = sql.SQL(
            "\nwhere t.{batch} in (select batch_id from meta.dq_run_batches where run_id = {run})"
            "\n   or (t.{batch} not in (select batch_id from meta.load_batches) and t.{loaded} >= {since}::timestamptz)"
        ).format(
            batch=sql.Identifier(spec.batch_column),
            run=sql.Literal(run_id),
            loaded=sql.Identifier(spec.loaded_at_column),
            since=sql.Literal(validate_since.isoformat()),
        )
    return sql.SQL("select {key} as _dq_key, {cols}\nfrom {schema}.{table} t{where}").format(
        key=key_expression(spec, "t"),
        cols=fill(spec.columns) if spec.columns else sql.SQL("t.*"),
        schema=sql.Identifier(spec.schema),
        table=sql.Identifier(spec.table_name),
        where=where,
    )


def materialise(spec: SuiteSpec, validate_since: datetime, as_of: datetime, run_id: str = "") -> sql.Composable:
    """dq.<suite> as an UNLOGGED table, rebuilt each run: JSON fields are extracted and
    parsed once, then every expectation scans a plain table (a view would redo the
    extraction in each of the suite's queries). It also keeps what the gate saw."""
    name = sql.Identifier(DQ_SCHEMA, spec.name)
    return sql.SQL("create unlogged table {name} as\n{body};\nanalyze {name}").format(
        name=name, body=suite_select(spec, validate_since, as_of, run_id)
    )


def drop_relation(conn, schema: str, name: str) -> None:
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    if kind:
        what = {"v": "view", "m": "materialized view"}.get(kind[0], "table")
        conn.execute(sql.SQL(f"drop {what} {{}} cascade").format(sql.Identifier(schema, name)))
