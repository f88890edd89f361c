"""The Great Expectations quality gate.

Suites are declared as small YAML files in `expectations/suites/` (see
`cs_analytics.quality.specs`) and built idempotently into the GX file data context in
`expectations/gx/` through the GX Core 1.x API. Each suite validates a table
`dq.<suite>` (see `cs_analytics.quality.sql`) through a PostgreSQL SQL data source, all
suites by one checkpoint: every expectation is a query PostgreSQL runs; nothing is
pulled into pandas. The data source's connection string stays `${GX_WAREHOUSE_URL}`,
resolved from the environment, so no secret is written to disk.

A `critical` failure fails the gate; a `warning` failure is reported and the run goes
on. Rows failing a critical row-level expectation are copied to `meta.dq_quarantine`
(at most `quarantine_cap` per expectation); every outcome goes to `meta.dq_results`;
each run to `meta.dq_runs`; the checkpoint updates the Data Docs site (HTML) in
`build/data_docs/`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql

from cs_analytics.quality.paths import GX_PROJECT_ROOT, data_docs_dir
from cs_analytics.quality.specs import SEVERITIES, ExpectationSpec, SuiteSpec, load_suite_specs
from cs_analytics.quality.sql import DDL, DQ_SCHEMA, drop_relation, holiday_rows, key_expression, materialise
from cs_analytics.warehouse import Warehouse, copy_rows

__all__ = [
    "SEVERITIES",
    "ExpectationSpec",
    "GateResult",
    "Outcome",
    "SuiteSpec",
    "load_suite_specs",
    "run_gate",
    "store_results",
]

log = logging.getLogger(__name__)

GX_ROOT = GX_PROJECT_ROOT  # kept for callers of the skeleton's name
DATASOURCE = "warehouse"
CHECKPOINT = "quality_gate"
DOCS_SITE = "local_site"
BATCH_DEFINITION = "whole_table"
CONNECTION_ENV = "GX_WAREHOUSE_URL"
# new_rows suites re-read this much before the previous passed run started: a load that
# began before that run and committed after it carries an earlier _loaded_at.
NEW_ROWS_OVERLAP = timedelta(hours=6)
# "not in the future" allows this much clock difference between the sources and us.
CLOCK_TOLERANCE = timedelta(minutes=10)
DEFAULT_QUARANTINE_CAP = 1000
# Validation results (JSON, and their Data Docs pages) kept for this many runs; the full
# history is in meta.dq_results.
DEFAULT_DOCS_KEEP_RUNS = 30
SUITE_ERROR = "suite_could_not_run"


@dataclass
class Outcome:
    suite: str
    table: str
    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    severity: str
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    exception: str | None = None
    quarantined_rows: int | None = None
    quarantine_cap: int | None = None
    data_docs: str | None = None
    partial_unexpected: list[Any] = field(default_factory=list)
    # internal: GX's SQL for the failing rows (row-level expectations), and whether they may be quarantined
    unexpected_index_query: str | None = field(default=None, repr=False)
    quarantine: bool = field(default=False, repr=False)

    def describe(self) -> str:
        col = f"({self.column})" if self.column else ""
        if self.exception:
            what = f"error: {self.exception[:160]}"
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            sample = f" e.g. {self.partial_unexpected[:3]}" if self.partial_unexpected else ""
            what = f"{self.unexpected_count} unexpected of {self.element_count}{pct}{sample}"
        else:
            what = f"observed {json.dumps(self.observed_value, default=str)[:160]}"
        limits = {k: v for k, v in self.kwargs.items() if k not in ("column", "batch_id")}
        return f"{self.suite}: {self.expectation}{col} {json.dumps(limits, default=str)[:120]} -> {what}"


@dataclass
class GateResult:
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    data_docs: str | None = None
    suite_docs: dict[str, str] = field(default_factory=dict)
    as_of: datetime | None = None
    validate_since: datetime | None = None
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def quarantined_rows(self) -> int:
        return sum(o.quarantined_rows or 0 for o in self.outcomes)

    def failing_suite_docs(self) -> str | None:
        """The Data Docs page of the first suite with a critical failure (else the site index)."""
        for o in self.critical_failures:
            if o.suite in self.suite_docs:
                return self.suite_docs[o.suite]
        return self.data_docs

    def find(self, suite: str, expectation: str | None = None, column: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.suite == suite
            and (expectation is None or o.expectation == expectation)
            and (column is None or o.column == column)
        ]

    def to_dict(self) -> dict[str, Any]:
        def brief(o: Outcome) -> dict[str, Any]:
            d = asdict(o)
            for k in ("unexpected_index_query", "quarantine", "partial_unexpected"):
                d.pop(k, None)
            return d

        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "suites": len({o.suite for o in self.outcomes}),
            "expectations": len(self.outcomes),
            "critical_failures": [brief(o) for o in self.critical_failures],
            "warnings": [brief(o) for o in self.warnings],
            "quarantined_rows": self.quarantined_rows,
            "data_docs": self.data_docs,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "validate_since": self.validate_since.isoformat() if self.validate_since else None,
            "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
        }


# ----------------------------------------------------------------------------- connection strings
def sqlalchemy_url_from_dsn(dsn: str) -> str:
    """A libpq DSN or URL -> SQLAlchemy URL (psycopg2 driver) for GX."""
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


# ----------------------------------------------------------------------------- warehouse side
def _prepare_warehouse(wh: Warehouse, run_id: str, as_of: datetime) -> tuple[datetime, datetime]:
    """DDL, holiday calendar, this run's row in meta.dq_runs. Returns (started_at, validate_since)."""
    with wh.transaction() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.dq_ddl'))")
        conn.execute(DDL)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into dq.holidays (day, name) values (%s, %s) on conflict (day) do nothing", holiday_rows()
            )
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
                as_of = excluded.as_of,
                validate_since = excluded.validate_since, finished_at = null, passed = null
            """,
            (run_id, started_at, as_of, validate_since),
        )
    return started_at, validate_since


def _materialise_suites(
    wh: Warehouse, specs: list[SuiteSpec], validate_since: datetime, as_of: datetime
) -> tuple[list[SuiteSpec], list[Outcome]]:
    """Rebuild dq.<suite> for every suite. A suite whose table cannot be built (its relation is
    missing, a column its SQL names is gone) becomes one failed outcome of severity on_error."""
    ok, errors = [], []
    for spec in specs:
        try:
            with wh.transaction() as conn:
                drop_relation(conn, DQ_SCHEMA, spec.name)
                conn.execute(materialise(spec, validate_since, as_of))
            ok.append(spec)
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
    return ok, errors


# ----------------------------------------------------------------------------- GX context
def _expectation_class(type_name: str):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    try:
        return getattr(gx.expectations, class_name)
    except AttributeError as exc:
        raise ValueError(f"unknown Great Expectations expectation type {type_name!r}") from exc


def _gx_suite(spec: SuiteSpec):
    import great_expectations as gx

    # Expectations go in through the constructor: add_expectation() on a suite whose name is
    # already stored writes the store once per expectation.
    expectations = [
        _expectation_class(e.type)(
            **e.kwargs,
            meta={"severity": e.severity, "quarantine": e.quarantine and spec.quarantine},
            notes=f"Severity: **{e.severity}**" + (f" — {e.description}" if e.description else ""),
        )
        for e in spec.expectations
    ]
    return gx.ExpectationSuite(
        name=spec.name,
        expectations=expectations,
        meta={"table": spec.table, "scope": spec.scope, "key": list(spec.key), "source": spec.source_file},
        notes=spec.description or None,
    )


def _same_suite(a, b) -> bool:
    def shape(s) -> list:
        return sorted(
            json.dumps(
                {"type": e.type, "kwargs": e.kwargs, "meta": e.meta, "notes": e.notes},
                sort_keys=True,
                default=str,
            )
            for e in (x.configuration for x in s.expectations)
        )

    return shape(a) == shape(b) and (a.meta or {}) == (b.meta or {}) and a.notes == b.notes


def _ensure_docs_site(context, docs_dir: Path) -> None:
    """Point the Data Docs site at docs_dir (stored relative to the context root, so the
    committed great_expectations.yml names build/data_docs/ and no absolute path)."""
    root = Path(context.root_directory)
    rel = os.path.relpath(docs_dir, root) + "/"
    site = (context.config.data_docs_sites or {}).get(DOCS_SITE) or {}
    if (site.get("store_backend") or {}).get("base_directory") == rel:
        return
    config = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": rel},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if site:
        context.update_data_docs_site(DOCS_SITE, config)
    else:
        context.add_data_docs_site(DOCS_SITE, config)


def _build_context(
    context_root: Path, docs_dir: Path, specs: list[SuiteSpec], prune: bool, checkpoint_name: str = CHECKPOINT
):
    import great_expectations as gx

    config_file = Path(context_root) / "gx" / "great_expectations.yml"
    if not config_file.exists() and Path(context_root).resolve() != GX_PROJECT_ROOT.resolve():
        # A new context (tests, benchmarks): start from the project's settings (no progress
        # bars, no analytics), without its data source.
        config_file.parent.mkdir(parents=True, exist_ok=True)
        template = (GX_PROJECT_ROOT / "gx" / "great_expectations.yml").read_text()
        config_file.write_text(template.split("\nfluent_datasources:")[0] + "\n")
        shutil.copytree(GX_PROJECT_ROOT / "gx" / "plugins", config_file.parent / "plugins", dirs_exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(context_root))
    _ensure_docs_site(context, docs_dir)

    conn_ref = "${" + CONNECTION_ENV + "}"
    try:
        datasource = context.data_sources.get(DATASOURCE)
        current = datasource.connection_string
        if str(getattr(current, "template_str", current)) != conn_ref:
            raise LookupError
    except (KeyError, LookupError, ValueError):
        datasource = context.data_sources.add_or_update_postgres(name=DATASOURCE, connection_string=conn_ref)

    wanted = {s.name for s in specs}
    validations = []
    for spec in specs:
        try:
            asset = datasource.get_asset(spec.name)
        except LookupError:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # schema_name: deprecated, but the tables live in dq
                asset = datasource.add_table_asset(name=spec.name, table_name=spec.name, schema_name=DQ_SCHEMA)
        try:
            batch_def = asset.get_batch_definition(BATCH_DEFINITION)
        except KeyError:
            batch_def = asset.add_batch_definition_whole_table(BATCH_DEFINITION)

        suite = _gx_suite(spec)
        try:
            stored = context.suites.get(spec.name)
        except Exception:
            stored = None
        if stored is None or not _same_suite(stored, suite):
            stored = context.suites.add_or_update(suite)
        try:
            vd = context.validation_definitions.get(spec.name)
            if vd.suite.name != spec.name or vd.data.name != BATCH_DEFINITION or vd.asset.name != spec.name:
                raise LookupError
        except Exception:
            vd = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=spec.name, data=batch_def, suite=stored)
            )
        validations.append(vd)

    if prune:  # objects of suites that no longer exist
        for vd in list(context.validation_definitions.all()):
            if vd.name not in wanted:
                context.validation_definitions.delete(vd.name)
        for s in list(context.suites.all()):
            if s.name not in wanted:
                context.suites.delete(s.name)
        for a in list(datasource.assets):
            if a.name not in wanted:
                datasource.delete_asset(a.name)

    # No UpdateDataDocsAction: it rebuilds the site once per validation result (18 times a
    # run, most of the gate's time); the gate builds this run's pages once after the run.
    checkpoint = gx.Checkpoint(
        name=checkpoint_name,
        validation_definitions=validations,
        actions=[],
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": 20,
            "unexpected_index_column_names": ["_dq_key"],
            "return_unexpected_index_query": True,
        },
    )
    try:
        stored_cp = context.checkpoints.get(checkpoint_name)
        same = [v.name for v in stored_cp.validation_definitions] == [v.name for v in validations] and not (
            stored_cp.actions
        )
    except Exception:
        same = False
    checkpoint = context.checkpoints.get(checkpoint_name) if same else context.checkpoints.add_or_update(checkpoint)
    return context, checkpoint


def _build_docs(context, run, specs: list[SuiteSpec], keep_runs: int) -> None:
    """Prune old validation results, then render this run's pages and the index, once."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    store = context.validation_results_store
    keys = list(store.list_keys())
    runs = sorted({(k.run_id.run_time, k.run_id.run_name) for k in keys}, reverse=True)
    keep = set(runs[:keep_runs])
    for k in keys:
        if (k.run_id.run_time, k.run_id.run_name) in keep:
            continue
        try:
            for site in context.get_docs_sites_urls(resource_identifier=k, site_name=DOCS_SITE):
                url = site.get("site_url") or ""
                if url.startswith("file://"):
                    Path(os.path.normpath(url[len("file://") :])).unlink(missing_ok=True)
        except Exception:
            pass
        store.remove_key(k)
    ids = list(run.run_results.keys()) + [ExpectationSuiteIdentifier(name=s.name) for s in specs]
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=ids)


# ----------------------------------------------------------------------------- results
def _exception_message(info: Any) -> str | None:
    if not info:
        return None
    items = [info] if "raised_exception" in info else list(info.values())
    for item in items:
        if isinstance(item, dict) and item.get("raised_exception", True) and item.get("exception_message"):
            return str(item["exception_message"]).strip().splitlines()[0][:500]
    return None


def _normalise_file_url(url: str) -> str:
    """file:///repo/expectations/gx/../../build/x.html -> file:///repo/build/x.html"""
    if url.startswith("file://"):
        return "file://" + os.path.normpath(url[len("file://") :])
    return url


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _outcomes(run, context, table_of: dict[str, str]) -> tuple[list[Outcome], dict[str, str]]:
    outcomes: list[Outcome] = []
    docs: dict[str, str] = {}
    for key, vres in run.run_results.items():
        suite_name = vres.suite_name
        try:
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE)
            if urls and urls[0].get("site_url"):
                docs[suite_name] = _normalise_file_url(urls[0]["site_url"])
        except Exception:  # docs are a convenience: never fail the gate on them
            log.exception("no Data Docs URL for %s", suite_name)
        for r in vres.results:
            cfg = r.expectation_config
            kwargs = _jsonable({k: v for k, v in cfg.kwargs.items() if k != "batch_id"})
            res = r.result or {}
            meta = cfg.meta or {}
            exc = _exception_message(r.exception_info)
            outcomes.append(
                Outcome(
                    suite=suite_name,
                    table=table_of.get(suite_name, ""),
                    expectation=cfg.type,
                    column=kwargs.get("column") or kwargs.get("column_A"),
                    kwargs=kwargs,
                    severity=meta.get("severity", "critical"),
                    success=bool(r.success) and not exc,
                    observed_value=_jsonable(res.get("observed_value")),
                    unexpected_count=res.get("unexpected_count"),
                    unexpected_percent=res.get("unexpected_percent"),
                    element_count=res.get("element_count"),
                    exception=exc,
                    data_docs=docs.get(suite_name),
                    partial_unexpected=_jsonable(res.get("partial_unexpected_list") or []),
                    unexpected_index_query=res.get("unexpected_index_query"),
                    quarantine=bool(meta.get("quarantine", False)),
                )
            )
    return outcomes, docs


_PY_DATETIME = re.compile(
    r"datetime\.datetime\((\d+), (\d+), (\d+)(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?"
    r"(?:, tzinfo=(?:[\w.]+(?:\([^()]*\))?))?\)"
)


def _sql_datetimes(query: str) -> str:
    """GX renders datetime parameters (the `now` bound) as Python reprs in its
    unexpected_index_query; make them SQL literals (they are UTC: the gate passes UTC)."""

    def literal(m: re.Match) -> str:
        y, mo, d, h, mi, sec, us = (int(x) if x else 0 for x in m.groups())
        return f"'{datetime(y, mo, d, h, mi, sec, us, tzinfo=UTC).isoformat()}'::timestamptz"

    return _PY_DATETIME.sub(literal, query)


def _quarantine(wh: Warehouse, run_id: str, specs: dict[str, SuiteSpec], outcomes: list[Outcome], cap: int) -> None:
    """Copy the rows behind each failed critical row-level expectation to meta.dq_quarantine:
    the source row as it stands in its table (so a JSON payload comes whole), found by key
    from GX's own query for the unexpected rows, at most `cap` rows per expectation."""
    with wh.transaction() as conn:
        # a run audits in stages (sources, then marts): each replaces only its own suites' rows
        conn.execute("delete from meta.dq_quarantine where run_id = %s and suite = any(%s)", (run_id, sorted(specs)))
        for o in outcomes:
            spec = specs.get(o.suite)
            if spec is None or o.success or o.severity != "critical" or not o.quarantine or o.exception:
                continue
            query = (
                (o.unexpected_index_query or "").strip().rstrip(";")
                if isinstance(o.unexpected_index_query, str)
                else ""
            )
            if "_dq_key" not in query:
                continue  # table-level expectation: no rows to point at
            query = _sql_datetimes(query)
            keys = sql.SQL("select distinct u._dq_key from ({query}) u limit {cap}").format(
                query=sql.SQL(query), cap=sql.Literal(cap)
            )
            if spec.sql:  # a metric suite: its rows exist only in dq.<suite>
                source = sql.SQL("{view} t join ({keys}) k on t._dq_key = k._dq_key").format(
                    view=sql.Identifier(DQ_SCHEMA, spec.name), keys=keys
                )
                row = sql.SQL("to_jsonb(t) - '_dq_key'")
            else:
                source = sql.SQL("{table} t join ({keys}) k on {key} = k._dq_key").format(
                    table=sql.Identifier(spec.schema, spec.table_name), keys=keys, key=key_expression(spec, "t")
                )
                row = sql.SQL("to_jsonb(t)")
            stmt = sql.SQL(
                """
                insert into meta.dq_quarantine (run_id, suite, expectation, kwargs, table_name, row_key, row_data)
                select {run_id}, {suite}, {exp}, {kwargs}::jsonb, {table}, k._dq_key, {row}
                from {source}
                limit {cap}
                """
            ).format(
                run_id=sql.Literal(run_id),
                suite=sql.Literal(o.suite),
                exp=sql.Literal(o.expectation),
                kwargs=sql.Literal(json.dumps(o.kwargs, sort_keys=True, default=str)),
                table=sql.Literal(o.table),
                row=row,
                source=source,
                cap=sql.Literal(cap),
            )
            try:
                with conn.transaction():
                    o.quarantined_rows = conn.execute(stmt).rowcount
                    o.quarantine_cap = cap
            except Exception as exc:  # the gate result stands; the log says what could not be copied
                log.error("DQ quarantine of %s %s failed: %s", o.suite, o.expectation, exc)
            if o.quarantined_rows:
                log.warning(
                    "DQ quarantine: %d row(s) of %s copied for %s(%s)%s",
                    o.quarantined_rows,
                    o.table,
                    o.expectation,
                    o.column or "",
                    f" (capped at {cap})" if o.quarantined_rows >= cap else "",
                )


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
    with warehouse.transaction() as conn:
        conn.execute(DDL)
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
        # The run's row sums up every stage stored under its id (sources, then marts; seconds
        # add up across stages and retries).
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


# ----------------------------------------------------------------------------- the gate
def run_gate(
    specs: list[SuiteSpec] | None,
    run_id: str,
    connection_string: str | None = None,
    context_root: Path = GX_PROJECT_ROOT,
    build_docs: bool = True,
    *,
    warehouse: Warehouse | None = None,
    docs_dir: Path | None = None,
    as_of: datetime | None = None,
    quarantine_cap: int | None = None,
    prune: bool = True,
    store: bool = True,
    docs_keep_runs: int | None = None,
    schemas: dict[str, str] | None = None,
    checkpoint_name: str = CHECKPOINT,
) -> GateResult:
    """Validate every suite on the warehouse, quarantine, store the history; never raises on
    data problems (the caller decides what a failed gate means). `schemas` redirects suites to
    other schemas (the marts' hidden build); a stage of a run (a subset of the suites, same
    run_id) runs its own `checkpoint_name` and leaves the other stages' results in place."""
    started = time.perf_counter()
    specs = load_suite_specs() if specs is None else specs
    # What the suites read (the build instead of the published marts); the GX suites keep the
    # published names, so the context on disk stays the same whatever a run audits.
    reads = [spec.reading(schemas or {}) for spec in specs]
    if warehouse is None and connection_string is None:
        raise ValueError("run_gate needs a warehouse or a connection string")
    wh = warehouse or Warehouse(connection_string.replace("postgresql+psycopg2://", "postgresql://"))
    os.environ[CONNECTION_ENV] = sqlalchemy_url_from_dsn(connection_string or wh.dsn)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    cap = quarantine_cap or int(os.environ.get("DQ_QUARANTINE_CAP", DEFAULT_QUARANTINE_CAP))
    docs_dir = Path(docs_dir) if docs_dir else data_docs_dir()
    docs_keep_runs = docs_keep_runs or int(os.environ.get("DQ_DOCS_KEEP_RUNS", DEFAULT_DOCS_KEEP_RUNS))

    stages: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - mark
        mark = time.perf_counter()

    _, validate_since = _prepare_warehouse(wh, run_id, as_of)
    lap("prepare")
    _, outcomes = _materialise_suites(wh, reads, validate_since, as_of)
    broken = {o.suite for o in outcomes}
    runnable = specs  # every suite stays in the checkpoint; the broken ones report suite_could_not_run
    lap("materialise")
    result = GateResult(run_id=run_id, as_of=as_of, validate_since=validate_since, stage_seconds=stages)

    if runnable:
        from great_expectations.core.run_identifier import RunIdentifier

        context, checkpoint = _build_context(Path(context_root), docs_dir, runnable, prune, checkpoint_name)
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
                _build_docs(context, run, runnable, docs_keep_runs)
                sites = context.get_docs_sites_urls(site_name=DOCS_SITE)
                result.data_docs = _normalise_file_url(sites[0]["site_url"]) if sites else None
            except Exception:  # docs are a convenience: never fail the gate on them
                log.exception("Data Docs not built")
            lap("data_docs")
        gx_outcomes, result.suite_docs = _outcomes(run, context, {s.name: s.table for s in reads})
        outcomes.extend(o for o in gx_outcomes if o.suite not in broken)
    result.outcomes = outcomes
    lap("results")
    _quarantine(wh, run_id, {s.name: s for s in reads}, outcomes, cap)
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
