"""The quality gate's task entry point: validate, store the history, alert and fail on critical failures."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from cs_analytics.run_context import reference_instant
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


class QualityGateFailed(AirflowFailException):
    """A critical expectation failed. An AirflowFailException: retrying cannot fix data, so the
    task fails at once and everything downstream (the marts Asset, ML, alerts) stays put."""

    alerted = True  # the gate sends its own alert; the generic failure notifier stays quiet


def gate_alert(result, dag_id: str):
    from cs_analytics.alerts.messages import Alert

    failed = result.critical_failures
    return Alert(
        key=f"quality_gate_failed:{dag_id}:{result.run_id}",
        severity="critical",
        audience="data_engineering",
        rule="quality_gate",
        title=f"Quality gate failed: {len(failed)} critical expectation(s)",
        summary=(
            "The marts were not published; ML scoring and business alerts are on hold until the data "
            "are fixed and the transform DAG re-runs."
        ),
        facts=(
            ("Run", result.run_id),
            ("Suites failing", ", ".join(sorted({o.suite for o in failed}))),
            ("Warnings", str(len(result.warnings))),
            ("Rows quarantined", f"{result.quarantined_rows} (meta.dq_quarantine)"),
            ("Data Docs", result.failing_suite_docs() or "not built"),
        ),
        details=tuple(o.describe() for o in failed[:20]),
        link=result.failing_suite_docs(),
    )


def stage_suites(stage: str | None):
    """The suites of a stage, the schemas they read and their checkpoint: `sources` (the raw
    tables, before dbt), `marts` (the marts, audited on their hidden build before they are
    published); None: every suite."""
    from cs_analytics.quality.gx_context import CHECKPOINT
    from cs_analytics.quality.specs import load_suite_specs
    from cs_analytics.transform.publish import PUBLISHED_SCHEMA, build_schema

    specs = load_suite_specs()
    if stage is None:
        return specs, {}, CHECKPOINT
    if stage == "sources":
        return [s for s in specs if s.schema != PUBLISHED_SCHEMA], {}, f"{CHECKPOINT}__{stage}"
    if stage == "marts":
        marts = [s for s in specs if s.schema == PUBLISHED_SCHEMA]
        return marts, {PUBLISHED_SCHEMA: build_schema()}, f"{CHECKPOINT}__{stage}"
    raise ValueError(f"unknown quality-gate stage {stage!r} (sources, marts)")


def run_quality_gate(context: dict[str, Any], as_of: str | None = None, stage: str | None = None) -> dict[str, Any]:
    """Validate a stage's suites (see stage_suites) as of the run's instant (`as_of`, ISO-8601,
    from the DAG's as_of task; default: the run's reference instant)."""
    from cs_analytics.alerts.delivery import deliver
    from cs_analytics.quality.gate import run_gate

    run_id = context["run_id"]
    dag_id = context["dag"].dag_id
    wh = Warehouse.from_connection()
    try:
        specs, schemas, checkpoint = stage_suites(stage)
        result = run_gate(
            specs,
            run_id=run_id,
            warehouse=wh,
            as_of=datetime.fromisoformat(as_of) if as_of else reference_instant(context),
            schemas=schemas,
            checkpoint_name=checkpoint,
            prune=stage is None,  # a stage sees part of the suites: it must not delete the others
        )
    except Exception as exc:
        # The gate itself broke (warehouse down, a suite file invalid...): nothing was checked,
        # so nothing is published; data engineering hears of it once per run (the key is stable
        # across retries), then Airflow retries.
        from cs_analytics.alerts.messages import Alert

        try:
            deliver(
                [
                    Alert(
                        key=f"quality_gate_error:{dag_id}:{run_id}",
                        severity="critical",
                        audience="data_engineering",
                        rule="quality_gate",
                        title="Quality gate could not run",
                        summary="The data were not checked, so the marts were not published.",
                        details=(f"{type(exc).__name__}: {exc}"[:500],),
                    )
                ],
                wh,
                dag_id=dag_id,
                run_id=run_id,
            )
        except Exception:
            log.exception("could not deliver the quality-gate error alert")
        raise
    for o in result.warnings:
        log.warning("DQ warning: %s", o.describe())
    log.info(
        "quality gate: %s in %.1fs (stages %s); Data Docs %s",
        "PASSED" if result.passed else "FAILED",
        result.seconds,
        result.stage_seconds,
        result.data_docs,
    )
    if not result.passed:
        for o in result.critical_failures:
            log.error("DQ critical: %s", o.describe())
        alert = gate_alert(result, dag_id)
        deliver([alert], wh, dag_id=dag_id, run_id=run_id)
        raise QualityGateFailed(
            f"{len(result.critical_failures)} critical expectation(s) failed: "
            + "; ".join(o.describe() for o in result.critical_failures[:5])
        )
    return result.to_dict()
