"""The "definitions load" test: every DAG imports cleanly, fast, and follows the conventions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cs_analytics.orchestration import APPROVED_TAGS

try:  # Airflow >= 3.2
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # pragma: no cover - older Airflow
    from airflow.models.dagbag import DagBag

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {
    "ingest_crm", "ingest_cti", "ingest_erp", "ingest_mobile_app", "ingest_portal_analytics", "ingest_mailbox",
    "ingest_weather", "transform", "ml_training", "ml_scoring", "alerts", "alerts_intraday", "marts_deadline",
    "report_daily", "report_weekly", "report_monthly", "report_quarterly",
}  # fmt: skip
NETWORK_TASK_PREFIXES = (
    "load",
    "publish",
    "wait_for",
    "dbt.",
    "quality_gate",
    "call_volume_forecast",
    "plan_technician_routes",
    "evaluate",
    "deliver",
)


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present_and_file_name_is_dag_id(dagbag):
    assert set(dagbag.dags) >= EXPECTED
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_owner_tags_docs_and_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and set(dag.tags) <= APPROVED_TAGS, f"{dag_id} tags {dag.tags} not all approved"
    assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} needs a module docstring (doc_md)"
    for task in dag.tasks:
        assert task.owner == "data-engineering", f"{dag_id}.{task.task_id} owner {task.owner}"
        # The watcher producer's one dbt build is never retried by Airflow (a second attempt is
        # skipped by Cosmos); each model task retries its own model instead (transform/dbt.py).
        if task.task_id.startswith(NETWORK_TASK_PREFIXES) and not task.task_id.endswith("dbt_producer_watcher"):
            assert task.retries >= 2, f"{dag_id}.{task.task_id} touches a network/database: needs retries >= 2"


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS_DIR.glob("*.py")))
def test_dag_file_does_not_import_heavy_libraries(dag_file):
    """pandas, prophet, lightgbm, sklearn and GX load inside task callables, never at parse time.
    (Parse speed itself is measured by benchmarks/dag_parse_time.py, not asserted here.)"""
    heavy = ("pandas", "prophet", "lightgbm", "sklearn", "great_expectations", "statsmodels", "mlflow", "ortools")
    code = (
        f"import sys, runpy; runpy.run_path({str(DAGS_DIR / dag_file)!r}); "
        f"print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = next(line for line in out.stdout.splitlines() if line.startswith("HEAVY=")).removeprefix("HEAVY=")
    assert loaded == "", f"{dag_file} imports heavy modules at parse time: {loaded}"


def test_every_task_tells_data_engineering_when_it_fails(dagbag):
    from cs_analytics.alerts.notifiers import PipelineFailureNotifier

    for dag_id in sorted(EXPECTED):
        for task in dagbag.dags[dag_id].tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(isinstance(c, PipelineFailureNotifier) for c in callbacks), f"{dag_id}.{task.task_id}"


def test_intraday_alerts_run_every_quarter_hour_in_business_hours(dagbag):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from airflow.timetables.trigger import CronTriggerTimetable

    timetable = dagbag.dags["alerts_intraday"].timetable
    assert isinstance(timetable, CronTriggerTimetable)
    paris = ZoneInfo("Europe/Paris")
    assert timetable._expression == "*/15 8-17 * * 1-5" and str(timetable._timezone) == "Europe/Paris"
    # Monday 17:45 Paris is the last run of the day; the next one is Tuesday 08:00 Paris
    nxt = timetable._get_next(datetime(2026, 3, 9, 17, 46, tzinfo=paris))
    assert nxt.astimezone(paris).replace(tzinfo=None) == datetime(2026, 3, 10, 8, 0)


def test_marts_deadline_alert_fires_at_07_30_paris(dagbag):
    from datetime import timedelta

    dag = dagbag.dags["marts_deadline"]
    (deadline,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert type(deadline.reference).__name__ == "DagRunLogicalDateDeadline"
    assert deadline.interval == timedelta(hours=7, minutes=30)
    assert deadline.callback.path == "cs_analytics.alerts.notifiers.marts_deadline_missed"
    assert dag.timetable._expression == "0 0 * * *" and str(dag.timetable._timezone) == "Europe/Paris"
