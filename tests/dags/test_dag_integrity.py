"""The "definitions load" test: every DAG imports cleanly, fast, and follows the conventions
(plugins/cs_analytics/orchestration.py): a runbook in doc_md, its layer's tag, one owner, retries
and timeouts, one run at a time, stages named in its docs, and Assets linking the DAGs from the
sources to the alerts and reports. Each failure names the DAG and what it lacks."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cs_analytics import orchestration as orch
from cs_analytics.orchestration import APPROVED_TAGS, DOC_SECTIONS, LAYER_TAGS, OWNER

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
    (Parse time: test_every_dag_file_imports_within_two_seconds and benchmarks/dag_parse_time.py.)"""
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


# --------------------------------------------------------------------------- conventions
# The layer each DAG belongs to, by its name (its tags may add others, e.g. transform's quality).
LAYER_BY_PREFIX = {
    "ingest_": "ingestion",
    "transform": "transformation",
    "ml_": "ml",
    "alerts": "alerting",
    "marts_deadline": "alerting",
    "report_": "reporting",
}
RERUN = re.compile(r"airflow dags test (\S+) (\S+?)`")


def _doc_item(doc: str, section: str) -> str | None:
    """The text of `- **<section>**: ...` (continuation lines joined), or None."""
    m = re.search(rf"^- \*\*{re.escape(section)}\*\*: (.+?)(?=^- \*\*|^\s*$)", doc, re.M | re.S)
    return " ".join(m.group(1).split()) if m else None


def _cron_period(timetable) -> timedelta | None:
    """The shortest gap between two runs of a cron timetable (None for an Asset schedule)."""
    if not hasattr(timetable, "_get_next"):
        return None
    at, gaps = datetime(2026, 1, 5, tzinfo=timetable._timezone), []
    for _ in range(200):
        nxt = timetable._get_next(at)
        gaps.append(nxt - at)
        at = nxt
    return min(gaps[1:])


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_doc_md_is_a_runbook(dagbag, dag_id):
    """What (the body), When, Inputs, Outputs, Owner and how to re-run one interval, at the top of
    the docs the UI shows; the re-run command names this DAG and an instant the schedule runs at."""
    dag = dagbag.dags[dag_id]
    doc = dag.doc_md or ""
    missing = [section for section in DOC_SECTIONS if _doc_item(doc, section) is None]
    assert not missing, f"{dag_id}: doc_md lacks the section(s) {missing} (`- **Section**: ...`)"
    assert len(re.sub(r"^- \*\*.*?(?=^\s*$)", "", doc, flags=re.M | re.S)) > 200, f"{dag_id}: doc_md says little"
    assert OWNER in _doc_item(doc, "Owner"), f"{dag_id}: doc_md's Owner is not {OWNER}"
    m = RERUN.search(_doc_item(doc, "Re-run one day"))
    assert m, f"{dag_id}: 'Re-run one day' has no `airflow dags test <dag> <instant>` command"
    assert m.group(1) == dag_id, f"{dag_id}: its re-run command runs {m.group(1)}"
    instant = datetime.fromisoformat(m.group(2))
    if hasattr(dag.timetable, "_get_next"):
        assert dag.timetable._get_next(instant - timedelta(seconds=1)) == instant, (
            f"{dag_id}: the re-run instant {instant} is not one its schedule runs at"
        )


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_layer_tag(dagbag, dag_id):
    layer = next(v for k, v in LAYER_BY_PREFIX.items() if dag_id.startswith(k))
    tags = set(dagbag.dags[dag_id].tags)
    assert layer in tags, f"{dag_id}: needs the tag of its layer, {layer!r} (has {sorted(tags)})"
    assert tags & LAYER_TAGS, f"{dag_id}: no layer tag among {sorted(tags)}"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_one_owner_one_run_at_a_time_and_timeouts(dagbag, dag_id):
    """Every run writes its interval's rows (or its outbox keys) in shared tables, so two runs of
    one DAG at once would collide: max_active_runs=1. dagrun_timeout ends a stuck run before the
    next is due and never cuts a sensor's own wait short; every task has an execution_timeout."""
    dag = dagbag.dags[dag_id]
    assert dag.owner == OWNER, f"{dag_id}: owner {dag.owner!r}"
    assert dag.max_active_runs == 1, f"{dag_id}: max_active_runs={dag.max_active_runs}, overlapping runs collide"
    assert dag.dagrun_timeout is not None, f"{dag_id}: no dagrun_timeout"
    period = _cron_period(dag.timetable) or timedelta(days=1)  # Asset-triggered: once a day
    assert dag.dagrun_timeout < period, f"{dag_id}: dagrun_timeout {dag.dagrun_timeout} >= its period {period}"
    for task in dag.tasks:
        assert task.execution_timeout is not None, f"{dag_id}.{task.task_id}: no execution_timeout"
        sensor_wait = getattr(task, "timeout", None) if hasattr(task, "poke") else None
        if sensor_wait is not None and task.mode == "reschedule":
            assert timedelta(seconds=float(sensor_wait)) < dag.dagrun_timeout, (
                f"{dag_id}.{task.task_id}: waits up to {sensor_wait}s, longer than dagrun_timeout {dag.dagrun_timeout}"
            )


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_stages_are_named_in_the_docs(dagbag, dag_id):
    """The graph's top level (task groups and the tasks outside any group) reads as the stages
    the DAG's docs describe: each is named there in backticks."""
    dag = dagbag.dags[dag_id]
    doc = dag.doc_md or ""
    top = {child.split(".")[0] for child in dag.task_group.children}
    unnamed = sorted(stage for stage in top if f"`{stage}`" not in doc)
    assert not unnamed, f"{dag_id}: stage(s) {unnamed} are not named in doc_md"


def _assets(objs) -> set[str]:
    return {a.name for a in objs or [] if hasattr(a, "name") and hasattr(a, "uri")}


def _schedule_assets(dag) -> set[str]:
    """The Assets a DAG's schedule waits for (an AssetAll/AssetAny tree, walked)."""

    def walk(cond) -> set[str]:
        if hasattr(cond, "objects"):
            return set().union(*(walk(c) for c in cond.objects))
        return _assets([cond])

    cond = getattr(dag.timetable, "asset_condition", None)
    return walk(cond) if cond is not None else set()


def test_assets_link_sources_raw_marts_ml_alerts_and_reports(dagbag):
    """The asset graph reads: each source -> its ingest DAG -> raw_* -> transform -> marts ->
    ml_scoring -> ml_scores -> alerts; the reports, run at fixed times, read marts and ml_scores
    as inlets (the Assets page lists them as consumers)."""
    dags = {d: dagbag.dags[d] for d in EXPECTED}
    produced = {d: set().union(*(_assets(t.outlets) for t in dag.tasks)) for d, dag in dags.items()}
    consumed = {d: set().union(*(_assets(t.inlets) for t in dag.tasks)) for d, dag in dags.items()}
    sources = {
        "ingest_crm": ("source_crm", "raw_crm"),
        "ingest_cti": ("source_cti", "raw_cti"),
        "ingest_erp": ("source_erp", "raw_erp"),
        "ingest_mobile_app": ("source_app", "raw_app"),
        "ingest_portal_analytics": ("source_portal_analytics", "raw_portal_analytics"),
        "ingest_mailbox": ("source_mailbox", "raw_mailbox"),
        "ingest_weather": ("source_weather", "raw_weather"),
    }
    for dag_id, (source, raw) in sources.items():
        assert source in consumed[dag_id], f"{dag_id}: no task reads Asset {source} (inlet)"
        assert produced[dag_id] == {raw}, f"{dag_id}: updates {produced[dag_id]}, expected {raw}"
    assert _schedule_assets(dags["transform"]) == {raw for _, raw in sources.values()}, "transform's schedule"
    assert produced["transform"] == {orch.MARTS.name}, "transform must update Asset marts"
    assert _schedule_assets(dags["ml_scoring"]) == {orch.MARTS.name}, "ml_scoring must wait for marts"
    assert produced["ml_scoring"] == {orch.ML_SCORES.name}, "ml_scoring must update Asset ml_scores"
    assert _schedule_assets(dags["alerts"]) == {orch.ML_SCORES.name}, "alerts must wait for ml_scores"
    for dag_id in ("report_daily", "report_weekly", "report_monthly", "report_quarterly", "marts_deadline", "alerts"):
        assert orch.MARTS.name in consumed[dag_id], f"{dag_id}: reads the marts but declares no inlet marts"
    for dag_id, dag in dags.items():  # no DAG outside the graph
        linked = produced[dag_id] | consumed[dag_id] | _schedule_assets(dag)
        assert linked, f"{dag_id}: neither reads nor updates any Asset"
    # Only the ingestion updates raw_*, only transform the marts: nothing else triggers a run by accident.
    for dag_id in EXPECTED - set(sources) - {"transform", "ml_scoring"}:
        assert not produced[dag_id], f"{dag_id}: updates {produced[dag_id]}, which would trigger downstream DAGs"


# --------------------------------------------------------------------------- parse time
PARSE_BOUND_S = 2.0  # generous: ~0.1-1 s each; benchmarks/dag_parse_time.py records the real figures


def test_every_dag_file_imports_within_two_seconds():
    """What the dag-processor pays per file: a fresh interpreter with the project's settings
    imports airflow.sdk, then a forked child per file imports it (its Cosmos, its cs_analytics
    modules, its dbt manifest). Judged on the file's CPU seconds, so a machine busy with other
    work does not fail it; a file past the bound is measured twice more (best kept) before the
    test names it with its time."""
    from benchmarks.dag_parse_time import dag_files, parse_seconds

    paths = dag_files()
    assert len(paths) >= len(EXPECTED)
    best: dict[str, float] = {}
    for _ in range(3):
        slow = [p for p in paths if best.get(p.name, float("inf")) > PARSE_BOUND_S]
        if not slow:
            break
        for name, answer in parse_seconds(slow)["files"].items():
            assert "error" not in answer, f"{name} failed to import: {answer['error']}"
            best[name] = min(best.get(name, float("inf")), answer["cpu_seconds"])
    over = {name: round(s, 2) for name, s in best.items() if s > PARSE_BOUND_S}
    assert not over, f"DAG file(s) past {PARSE_BOUND_S} s of CPU to import: {over}"
