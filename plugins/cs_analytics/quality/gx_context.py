"""The Great Expectations file data context the gate validates with (GX Core 1.x API): one
PostgreSQL data source, a table asset per suite on `dq.<suite>`, the suites built from
their YAML specs, a validation definition each, one checkpoint.

The suites' YAML is the source of truth: the context is generated, in a git-ignored
directory (`build/great_expectations/gx/` by default), from the committed template
`expectations/gx/` (settings, Data Docs stylesheet) on a fresh clone and kept in step
idempotently after that: a run rewrites nothing unless a suite changed.

The data source's connection string is stored as `${GX_WAREHOUSE_URL}`, a GX config
variable filled when the context is opened (`runtime_environment`): no secret is written
to disk, and nothing to the process environment.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from cs_analytics.config import PROJECT_ROOT
from cs_analytics.quality.docs import ensure_docs_site
from cs_analytics.quality.specs import EXPECTATIONS_DIR, SuiteSpec
from cs_analytics.quality.sql import DQ_SCHEMA

# What a person writes, committed: the context's settings and the Data Docs stylesheet.
GX_TEMPLATE_DIR = EXPECTATIONS_DIR / "gx"
# What GX generates (suites, validation definitions, checkpoint, results), git-ignored: the
# context opened at run time in <root>/gx/, rebuilt from the template and the suites' YAML.
GX_CONTEXT_ROOT = PROJECT_ROOT / "build" / "great_expectations"
DATASOURCE = "warehouse"
CHECKPOINT = "quality_gate"
BATCH_DEFINITION = "whole_table"
CONNECTION_VARIABLE = "GX_WAREHOUSE_URL"


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


def _prepare_context_dir(context_root: Path) -> None:
    """A context directory made from the template: rebuilt from scratch when the template
    changed (or on a fresh clone), kept otherwise, so a run rewrites only what changed."""
    if context_root.resolve() == EXPECTATIONS_DIR.resolve():
        raise ValueError(f"{context_root}: the GX context is generated; it cannot live beside the template")
    gx_dir = context_root / "gx"
    template = (GX_TEMPLATE_DIR / "great_expectations.yml").read_text()
    stamp = gx_dir / ".template.yml"  # the template this context was made from
    if not stamp.exists() or stamp.read_text() != template:
        shutil.rmtree(gx_dir, ignore_errors=True)
        gx_dir.mkdir(parents=True)
        (gx_dir / "great_expectations.yml").write_text(template)
        stamp.write_text(template)
    shutil.copytree(GX_TEMPLATE_DIR / "plugins", gx_dir / "plugins", dirs_exist_ok=True)


def build_context(
    context_root: Path,
    docs_dir: Path,
    specs: list[SuiteSpec],
    prune: bool,
    connection_url: str,
    checkpoint_name: str = CHECKPOINT,
):
    """The context, synced with the suite specs, and its checkpoint. `connection_url`: the
    warehouse as a SQLAlchemy URL (it fills ${GX_WAREHOUSE_URL}, in memory only)."""
    import great_expectations as gx

    _prepare_context_dir(Path(context_root))
    context = gx.get_context(
        mode="file",
        project_root_dir=str(context_root),
        runtime_environment={CONNECTION_VARIABLE: connection_url},
    )
    ensure_docs_site(context, docs_dir)

    conn_ref = "${" + CONNECTION_VARIABLE + "}"
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
