"""The gate's history: one row per run in `meta.dq_runs`, one per outcome in `meta.dq_results`
(what BI charts), and the window `new_rows` suites validate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cs_analytics.quality.results import GateResult
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows

# new_rows suites re-read this much before the previous passed run started: a load that
# began before that run and committed after it carries an earlier _loaded_at.
NEW_ROWS_OVERLAP = timedelta(hours=6)


def open_run(wh: Warehouse, run_id: str, as_of: datetime) -> tuple[datetime, datetime]:
    """This run's row in meta.dq_runs. Returns (started_at, validate_since)."""
    with wh.transaction() as conn:
        started_at, validate_since = conn.execute(
            """
            select now(), coalesce(max(started_at) - %s, '1900-01-01T00:00:00Z'::timestamptz)
            from meta.dq_runs where passed and run_id <> %s
            """,
            (NEW_ROWS_OVERLAP, run_id),
        ).fetchone()
        conn.execute(
            """
            insert into meta.dq_runs (run_id, started_at, as_of, validate_since)
            values (%s, %s, %s, %s)
            on conflict (run_id) do update set started_at = excluded.started_at, as_of = excluded.as_of,
                validate_since = excluded.validate_since, finished_at = null, passed = null
            """,
            (run_id, started_at, as_of, validate_since),
        )
    return started_at, validate_since


def store_results(warehouse: Warehouse, result: GateResult) -> int:
    """Write this run's outcomes to meta.dq_results (re-running the same run id replaces
    them) and close its row in meta.dq_runs."""
    rows = []
    for o in result.outcomes:
        number = (
            o.observed_value
            if isinstance(o.observed_value, int | float) and not isinstance(o.observed_value, bool)
            else None
        )
        rows.append(
            (
                result.run_id,
                o.suite,
                o.table,
                o.expectation,
                o.column,
                json.dumps(o.kwargs, sort_keys=True, default=str),
                o.severity,
                o.success,
                None if o.observed_value is None else json.dumps(o.observed_value, default=str),
                o.unexpected_count,
                o.unexpected_percent,
                number,
                o.element_count,
                o.exception,
                o.quarantined_rows,
                o.quarantine_cap,
                o.data_docs,
            )
        )
    ensure_schema(warehouse)
    with warehouse.transaction() as conn:
        conn.execute("delete from meta.dq_results where run_id = %s", (result.run_id,))
        with conn.cursor() as cur:
            copy_rows(
                cur,
                "meta.dq_results",
                (
                    "run_id",
                    "suite",
                    "table_name",
                    "expectation",
                    "column_name",
                    "kwargs",
                    "severity",
                    "success",
                    "observed_value",
                    "unexpected_count",
                    "unexpected_percent",
                    "observed_number",
                    "element_count",
                    "exception",
                    "quarantined_rows",
                    "quarantine_cap",
                    "data_docs",
                ),
                rows,
            )
        conn.execute(
            """
            insert into meta.dq_runs (run_id, started_at, as_of, validate_since)
            values (%s, now(), coalesce(%s, now()), coalesce(%s, '1900-01-01T00:00:00Z'::timestamptz))
            on conflict (run_id) do nothing
            """,
            (result.run_id, result.as_of, result.validate_since),
        )
        conn.execute(
            """
            update meta.dq_runs set finished_at = now(), passed = %s, suites = %s, expectations = %s,
                critical_failures = %s, warnings = %s, quarantined_rows = %s, data_docs = %s, seconds = %s
            where run_id = %s
            """,
            (
                result.passed,
                len({o.suite for o in result.outcomes}),
                len(result.outcomes),
                len(result.critical_failures),
                len(result.warnings),
                result.quarantined_rows,
                result.data_docs,
                result.seconds,
                result.run_id,
            ),
        )
    return len(rows)
