"""The Great Expectations quality gate: `run_gate` runs one validation of every suite.

Suites are declared as small YAML files in `expectations/suites/` (see `specs`). Each
suite validates a table `dq.<suite>` the gate rebuilds at the start of the run (see
`sql`), through one checkpoint on a PostgreSQL data source (see `gx_context`): every
expectation is a query PostgreSQL runs; nothing is pulled into pandas.

A `critical` failure fails the gate; a `warning` failure is reported and the run goes
on. Rows failing a critical row-level expectation are copied to `meta.dq_quarantine`
(`quarantine`), every outcome goes to `meta.dq_results` and each run to `meta.dq_runs`
(`history`); the run's Data Docs pages (HTML) are built into `build/data_docs/` (`docs`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg import sql

from cs_analytics.config import QualitySettings
from cs_analytics.connections import sqlalchemy_url
from cs_analytics.quality.docs import build_docs as build_data_docs
from cs_analytics.quality.docs import site_index_url, suite_page_urls
from cs_analytics.quality.gx_context import CHECKPOINT, GX_CONTEXT_ROOT, build_context
from cs_analytics.quality.history import open_run, store_results
from cs_analytics.quality.quarantine import quarantine_failed_rows
from cs_analytics.quality.results import SUITE_ERROR, GateResult, Outcome, outcomes_from_run
from cs_analytics.quality.specs import SuiteSpec, load_suite_specs
from cs_analytics.quality.sql import DQ_SCHEMA, drop_relation, ensure_dq_schema, materialise
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

# "not in the future" allows this much clock difference between the sources and us.
CLOCK_TOLERANCE = timedelta(minutes=10)


def _materialise_suites(
    wh: Warehouse, specs: list[SuiteSpec], validate_since: datetime, as_of: datetime, run_id: str
) -> list[Outcome]:
    """Rebuild dq.<suite> for every suite. A suite whose table cannot be built (its relation is
    missing, a column its SQL names is gone) becomes one failed outcome of severity on_error."""
    errors = []
    for spec in specs:
        try:
            with wh.transaction() as conn:
                drop_relation(conn, DQ_SCHEMA, spec.name)
                conn.execute(materialise(spec, validate_since, as_of, run_id))
        except Exception as exc:  # any SQL error: report it as the suite's outcome
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("DQ suite %s cannot run: %s", spec.name, msg)
            # An empty stand-in keeps the suite in the checkpoint (so the context on disk does
            # not change with the state of the warehouse); its GX results are replaced by this one.
            with wh.transaction() as conn:
                drop_relation(conn, DQ_SCHEMA, spec.name)
                conn.execute(
                    sql.SQL("create unlogged table {} (_dq_key text)").format(sql.Identifier(DQ_SCHEMA, spec.name))
                )
            errors.append(
                Outcome(
                    suite=spec.name,
                    table=spec.table,
                    expectation=SUITE_ERROR,
                    column=None,
                    kwargs={"relation": spec.table},
                    severity=spec.on_error,
                    success=False,
                    exception=f"{type(exc).__name__}: {msg}",
                )
            )
    return errors


def run_gate(
    specs: list[SuiteSpec] | None,
    run_id: str,
    connection_string: str | None = None,
    context_root: Path = GX_CONTEXT_ROOT,
    build_docs: bool = True,
    *,
    warehouse: Warehouse | None = None,
    docs_dir: Path | None = None,
    as_of: datetime | None = None,
    quarantine_cap: int | None = None,
    prune: bool = True,
    store: bool = True,
    docs_keep_runs: int | None = None,
    settings: QualitySettings | None = None,
    schemas: dict[str, str] | None = None,
    checkpoint_name: str = CHECKPOINT,
) -> GateResult:
    """Validate every suite on the warehouse, quarantine, store the history; never raises on
    data problems (the caller decides what a failed gate means). The keyword arguments
    override `settings` (default: from the environment). `schemas` redirects suites to other
    schemas (`{"marts": "marts_build"}`: the marts' hidden build); a stage of a run (part of the
    suites, same run_id) runs its own `checkpoint_name` and leaves the other stages' results."""
    started = time.perf_counter()
    specs = load_suite_specs() if specs is None else specs
    # What the suites read (the build instead of the published marts); the GX suites keep the
    # published names, so the generated context stays the same whatever a run audits.
    reads = [spec.reading(schemas or {}) for spec in specs]
    if warehouse is None and connection_string is None:
        raise ValueError("run_gate needs a warehouse or a connection string")
    wh = warehouse or Warehouse(connection_string.replace("postgresql+psycopg2://", "postgresql://"))
    settings = settings or QualitySettings.from_env()
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    cap = quarantine_cap or settings.quarantine_cap
    docs_dir = Path(docs_dir).resolve() if docs_dir else settings.data_docs_dir
    docs_keep_runs = docs_keep_runs or settings.docs_keep_runs

    stages: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - mark
        mark = time.perf_counter()

    ensure_schema(wh)
    ensure_dq_schema(wh)
    _, validate_since = open_run(wh, run_id, as_of)
    lap("prepare")
    outcomes = _materialise_suites(wh, reads, validate_since, as_of, run_id)
    broken = {o.suite for o in outcomes}  # they stay in the checkpoint, on an empty stand-in table
    lap("materialise")
    result = GateResult(run_id=run_id, as_of=as_of, validate_since=validate_since, stage_seconds=stages)

    if specs:
        from great_expectations.core.run_identifier import RunIdentifier

        context, checkpoint = build_context(
            Path(context_root), docs_dir, specs, prune, sqlalchemy_url(connection_string or wh.dsn), checkpoint_name
        )
        lap("gx_context")
        # "Not in the future" means not after the run's as-of instant: a row dated after the
        # interval the run covers is wrong for this run, however far it is from the wall clock.
        now = as_of + CLOCK_TOLERANCE
        run = checkpoint.run(
            run_id=RunIdentifier(run_name=run_id, run_time=datetime.now(UTC)),
            expectation_parameters={"now": now.isoformat()},
        )
        lap("gx_checkpoint")
        if build_docs:
            try:
                build_data_docs(context, run, specs, docs_keep_runs)
                result.data_docs = site_index_url(context)
            except Exception:  # docs are a convenience: never fail the gate on them
                log.exception("Data Docs not built")
            lap("data_docs")
        result.suite_docs = suite_page_urls(context, run)
        gx_outcomes = outcomes_from_run(run, {s.name: s.table for s in reads}, result.suite_docs)
        outcomes.extend(o for o in gx_outcomes if o.suite not in broken)
    result.outcomes = outcomes
    lap("results")
    quarantine_failed_rows(wh, run_id, {s.name: s for s in reads}, outcomes, cap)
    lap("quarantine")
    result.seconds = time.perf_counter() - started
    if store:
        store_results(wh, result)
        lap("history")
    log.info(
        "quality gate %s: %s — %d expectations in %d suites, %d critical failure(s), %d warning(s), "
        "%d row(s) quarantined, %.1fs",
        run_id,
        "PASSED" if result.passed else "FAILED",
        len(result.outcomes),
        len({o.suite for o in result.outcomes}),
        len(result.critical_failures),
        len(result.warnings),
        result.quarantined_rows,
        result.seconds,
    )
    return result
