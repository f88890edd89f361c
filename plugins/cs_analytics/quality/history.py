"""The gate's history: one row per run in `meta.dq_runs`, one per outcome in `meta.dq_results`
(what BI charts), and the window `new_rows` suites validate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cs_analytics.quality.results import GateResult
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows

# Rows loaded outside a recorded load batch (a hand-made insert) are validated by load time:
# from this much before the previous passed run started, since a load that began before that
# run and committed after it carries an earlier _loaded_at. Recorded batches need no margin.
NEW_ROWS_OVERLAP = timedelta(hours=6)


def open_run(wh: Warehouse, run_id: str, as_of: datetime) -> tuple[datetime, datetime]:
    """This run's row in meta.dq_runs, and the load batches it is to validate in meta.dq_run_batches:
    those recorded now (so committed: each loader records its batch with, or after, its rows)
    that no passed run of an earlier interval validated with the same record. Returns
    (started_at, validate_since)."""
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
            on conflict (run_id) do update set started_at = least(meta.dq_runs.started_at, excluded.started_at),
                as_of = excluded.as_of, validate_since = excluded.validate_since, finished_at = null, passed = null
            """,
            (run_id, started_at, as_of, validate_since),
        )
        conn.execute(
            f"""
            insert into meta.dq_run_batches (run_id, batch_id, finished_at)
            select %s, b.batch_id, b.finished_at from meta.load_batches as b
            where b.batch_id not in ({VALIDATED_BATCHES})
            on conflict (run_id, batch_id) do update set finished_at = excluded.finished_at
            """,
            (run_id, run_id, as_of),
        )
    return started_at, validate_since


# The batches a passed run of an earlier interval (as_of before this run's) validated, their records
# unchanged since. A re-run of an interval validates again what its first run did, so it reaches
# the same verdict and sends the same warnings (tests/reliability/test_idempotence.py).
VALIDATED_BATCHES = """
    select validated.batch_id
    from meta.dq_run_batches as validated
    inner join meta.dq_runs as validating on validating.run_id = validated.run_id and validating.passed
    inner join meta.load_batches as loaded
        on loaded.batch_id = validated.batch_id and loaded.finished_at is not distinct from validated.finished_at
    where validated.run_id <> %s and validating.as_of < %s
"""


def store_results(warehouse: Warehouse, result: GateResult) -> int:
    """Write this run's outcomes to meta.dq_results (re-running the same run id replaces
    them, suite by suite: a run audits in stages) and close its row in meta.dq_runs, which sums
    up every stage stored under the run id."""
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
        suites = sorted({o.suite for o in result.outcomes})
        conn.execute("delete from meta.dq_results where run_id = %s and suite = any(%s)", (result.run_id, suites))
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
        # seconds add up across the run's stages (and its retries)
        conn.execute(
            """
            update meta.dq_runs r set finished_at = now(), passed = s.critical_failures = 0, suites = s.suites,
                expectations = s.expectations, critical_failures = s.critical_failures, warnings = s.warnings,
                quarantined_rows = s.quarantined_rows, data_docs = coalesce(%s, r.data_docs),
                seconds = coalesce(r.seconds, 0) + %s
            from (
                select count(distinct suite) as suites, count(*) as expectations,
                    count(*) filter (where not success and severity = 'critical') as critical_failures,
                    count(*) filter (where not success and severity = 'warning') as warnings,
                    coalesce(sum(quarantined_rows), 0) as quarantined_rows
                from meta.dq_results where run_id = %s
            ) s
            where r.run_id = %s
            """,
            (result.data_docs, result.seconds, result.run_id, result.run_id),
        )
    return len(rows)
