"""The Great Expectations quality gate.

Suites are declared as small YAML files in `expectations/suites/` (one per table or
mart: the table, and each expectation with its GX type, arguments and severity) and
built into the GX file data context in `expectations/gx/` through the GX Core 1.x
API. Expectations run as SQL on PostgreSQL (a SQL data source), never by pulling
tables into pandas.

A `critical` failure fails the gate; a `warning` failure is reported and the run goes on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cs_analytics.config import PROJECT_ROOT

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_DIR = EXPECTATIONS_DIR / "suites"
GX_ROOT = EXPECTATIONS_DIR  # the file context lives in expectations/gx/
SEVERITIES = ("critical", "warning")
DATASOURCE = "warehouse"

RESULTS_DDL = """
create schema if not exists meta;
create table if not exists meta.dq_results (
    run_id              text not null,
    validated_at        timestamptz not null default now(),
    suite               text not null,
    table_name          text not null,
    expectation         text not null,
    column_name         text,
    kwargs              jsonb not null,
    severity            text not null check (severity in ('critical', 'warning')),
    success             boolean not null,
    observed_value      text,
    unexpected_count    bigint,
    unexpected_percent  double precision,
    primary key (run_id, suite, expectation, kwargs)
);
"""


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: dict[str, Any]
    severity: str


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    table: str
    expectations: tuple[ExpectationSpec, ...]

    @property
    def schema(self) -> str:
        return self.table.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".")[1]


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


@dataclass
class GateResult:
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "expectations": len(self.outcomes),
            "critical_failures": [asdict(o) for o in self.critical_failures],
            "warnings": [asdict(o) for o in self.warnings],
            "data_docs": self.data_docs,
        }


def load_suite_specs(directory: Path = SUITES_DIR) -> list[SuiteSpec]:
    specs = []
    for path in sorted(directory.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        exps = []
        for i, e in enumerate(doc.get("expectations", [])):
            severity = e.get("severity", "critical")
            if severity not in SEVERITIES:
                raise ValueError(
                    f"{path.name}: expectation #{i + 1} has severity {severity!r}, not one of {SEVERITIES}"
                )
            exps.append(ExpectationSpec(e["type"], dict(e.get("kwargs", {})), severity))
        specs.append(SuiteSpec(doc["suite"], doc["table"], tuple(exps)))
    return specs


def _expectation_class(type_name: str):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    try:
        return getattr(gx.expectations, class_name)
    except AttributeError as exc:
        raise ValueError(f"unknown Great Expectations expectation type {type_name!r}") from exc


def run_gate(
    specs: list[SuiteSpec],
    run_id: str,
    connection_string: str | None = None,
    context_root: Path = GX_ROOT,
    build_docs: bool = True,
) -> GateResult:
    """Build the suites into the file context, validate every table in SQL, collect outcomes."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx.get_context(mode="file", project_root_dir=str(context_root))
    # The context stores "${WAREHOUSE_URL}" and resolves it from the environment: no secret on disk.
    if connection_string is not None:
        os.environ["GX_WAREHOUSE_URL"] = connection_string
    datasource = context.data_sources.add_or_update_postgres(
        name=DATASOURCE, connection_string="${GX_WAREHOUSE_URL}" if connection_string else "${WAREHOUSE_URL}"
    )

    validations = []
    for spec in specs:
        asset_name = spec.table
        try:
            asset = datasource.get_asset(asset_name)
        except LookupError:
            asset = datasource.add_table_asset(name=asset_name, table_name=spec.table_name, schema_name=spec.schema)
        try:
            batch_def = asset.get_batch_definition("whole_table")
        except KeyError:
            batch_def = asset.add_batch_definition_whole_table("whole_table")
        suite = gx.ExpectationSuite(name=spec.name)
        for e in spec.expectations:
            suite.add_expectation(_expectation_class(e.type)(**e.kwargs, meta={"severity": e.severity}))
        suite = context.suites.add_or_update(suite)
        validations.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=f"{spec.name}__whole_table", data=batch_def, suite=suite)
            )
        )

    actions = [UpdateDataDocsAction(name="update_data_docs")] if build_docs else []
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name="quality_gate",
            validation_definitions=validations,
            actions=actions,
            result_format={"result_format": "SUMMARY"},
        )
    )
    run = checkpoint.run(run_id=RunIdentifier(run_name=run_id))

    result = GateResult(run_id=run_id)
    table_of = {s.name: s.table for s in specs}
    for vres in run.run_results.values():
        suite_name = vres.suite_name
        for r in vres.results:
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
            res = r.result or {}
            result.outcomes.append(
                Outcome(
                    suite=suite_name,
                    table=table_of.get(suite_name, ""),
                    expectation=cfg.type,
                    column=kwargs.get("column"),
                    kwargs=kwargs,
                    severity=(cfg.meta or {}).get("severity", "critical"),
                    success=bool(r.success),
                    observed_value=res.get("observed_value"),
                    unexpected_count=res.get("unexpected_count"),
                    unexpected_percent=res.get("unexpected_percent"),
                )
            )
    if build_docs:
        sites = context.get_docs_sites_urls()
        result.data_docs = sites[0]["site_url"] if sites else None
    return result


def store_results(warehouse, result: GateResult) -> int:
    """Append this run's outcomes to meta.dq_results (re-running the same run id replaces them)."""
    import json

    from cs_analytics.warehouse import copy_rows

    with warehouse.transaction() as conn:
        conn.execute(RESULTS_DDL)
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
                ),
                (
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
                    )
                    for o in result.outcomes
                ),
            )
    return len(result.outcomes)
