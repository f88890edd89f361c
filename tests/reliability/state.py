"""A warehouse's state as row counts and checksums per table over its business columns, to compare
re-runs. Run-specific columns are left out: they say *when* or *in which run* a row was written, not
what it holds, and a re-run must change them (a batch id carries the run id; a load time is now())."""

from __future__ import annotations

from cs_analytics.warehouse import Warehouse

# Column names that are run-specific wherever they appear (lineage and bookkeeping timestamps).
# A model's version is not among them: a re-run of a training reuses its registry version (same run
# key, cs_analytics.ml.registry), so the version a score or a model_runs row names must not change.
RUN_SPECIFIC = frozenset(
    {
        "_batch_id", "_loaded_at", "batch_id", "run_id", "dag_run_id", "loaded_at", "started_at", "finished_at",
        "applied_at", "last_seen_at", "seen_at", "held_at", "resolved_at", "resolved_by", "updated_at",
        "created_at", "scored_at", "trained_at", "computed_at", "checked_at", "validated_at", "published_at",
        "built_at", "generated_at", "recorded_at", "run_at", "detail", "duration_s", "duration_seconds",
        "dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "merged_at", "attempts", "sent_at", "delivered_at", "queued_at", "last_error", "last_attempt_at", "planned_at",
    }
)  # fmt: skip
# Run logs: one row per load and interval, whose counts describe what that attempt read and changed
# (a re-run changes nothing, so its rows_inserted is 0, and it reads from its own watermark). They are
# compared on what identifies each row and on its verdict: same loads, same intervals, same outcome.
# Each run appends its rows: a re-run's rows repeat the first run's, so the logs are compared as
# the set of distinct rows (same loads, same checks, same verdicts), not by their count.
RUN_LOG_COLUMNS = {
    "meta.load_batches": ["source", "object", "dag_id", "interval_start", "interval_end"],
    "meta.source_reconciliation": ["source", "object", "scope", "rule", "matches"],
    "meta.dq_runs": ["as_of", "passed", "suites", "expectations", "critical_failures", "warnings"],
    "meta.dq_results": ["suite", "table_name", "expectation", "column_name", "kwargs", "severity", "success"],
    # the batches each gate run listed: all run-specific (run, batch, record time); compared on presence
    "meta.dq_run_batches": [],
}
# Values inside a column that measure the run itself (a solver's wall time), left out of the checksum.
RUN_SPECIFIC_EXPRESSIONS = {("ml.model_runs", "metrics"): "(\"metrics\" - 'solve_seconds')"}
# Schemas Airflow, dbt's build area and Postgres keep for themselves.
SKIP_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "marts_build")


def business_columns(wh: Warehouse) -> dict[str, list[str]]:
    rows = wh.query(
        """
        select format('%%I.%%I', c.table_schema, c.table_name), c.column_name
        from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where t.table_type = 'BASE TABLE' and c.table_schema <> all(%s) and c.table_schema not like 'pg_temp%%'
        order by 1, c.ordinal_position
        """,
        (list(SKIP_SCHEMAS),),
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, [])
        if column not in RUN_SPECIFIC and column in RUN_LOG_COLUMNS.get(table, [column]):
            tables[table].append(column)
    return tables


def snapshot(wh: Warehouse) -> dict[str, tuple[int, str]]:
    """{table: (rows, checksum)}; the checksum is order-free (sorted row hashes)."""
    out = {}
    for table, cols in business_columns(wh).items():
        values = [RUN_SPECIFIC_EXPRESSIONS.get((table, c), f'"{c}"') for c in cols]
        row = "row(" + ", ".join(values) + ")::text" if cols else "''"
        distinct = "distinct " if table in RUN_LOG_COLUMNS else ""
        out[table] = tuple(
            wh.query(
                f"select count(*), coalesce(md5(string_agg(h, ',' order by h)), '') from "
                f"(select {distinct}md5({row}) as h from {table}) s"
            )[0]
        )
    return out


def excluded_columns(wh: Warehouse) -> dict[str, list[str]]:
    rows = wh.query(
        "select format('%%I.%%I', table_schema, table_name), column_name from information_schema.columns "
        "where table_schema <> all(%s) and column_name = any(%s) order by 1, 2",
        (list(SKIP_SCHEMAS), sorted(RUN_SPECIFIC)),
    )
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out
