"""A failing dbt test stops what depends on its model, and shows on that model's own task (watcher:
the model's task, which covers its build and its tests; local: the model's test task).

A small dbt project in a throw-away warehouse, run through the same Cosmos wiring as the transform
DAG (`transform.dbt.dbt_task_group`) under `airflow dags test`, in each execution mode:
`bad_source` fails its unique test, so `child` and `grandchild` must never be built (their tasks
end upstream_failed and their tables do not exist), while the independent branch is built and
tested as usual.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import psycopg
import pytest

from cs_analytics.config import PROJECT_ROOT
from tests.conftest import AIRFLOW_METADATA, throwaway_database

pytestmark = [pytest.mark.e2e, AIRFLOW_METADATA]

DAG_ID = "dbt_failing_test_check"
_RUN_ID = re.compile(r"run_id=(manual__[^\s,']+)")

MODELS = {
    "bad_source.sql": "select 1 as id union all select 1 as id",
    "child.sql": "select id from {{ ref('bad_source') }}",
    "grandchild.sql": "select id from {{ ref('child') }}",
    "independent.sql": "select 2 as id",
    "_models.yml": """
        version: 2
        models:
          - name: bad_source
            columns: [{name: id, data_tests: [unique]}]
          - name: independent
            columns: [{name: id, data_tests: [not_null, unique]}]
    """,
}


def _write_project(root: Path) -> Path:
    project = root / "dbt_check"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: dbt_check\nversion: '1.0'\nprofile: cs_analytics\nmodels:\n  dbt_check:\n    +materialized: table\n"
    )
    for name, body in MODELS.items():
        (project / "models" / name).write_text(textwrap.dedent(body).strip() + "\n")
    return project


def _task_states(output: str, env: dict[str, str]) -> dict[str, str]:
    """Every task's final state in the run, from Airflow's metadata DB (upstream_failed tasks never start)."""
    run_id = _RUN_ID.search(output)
    assert run_id, output[-3000:]
    listing = subprocess.run(
        ["airflow", "tasks", "states-for-dag-run", DAG_ID, run_id.group(1), "-o", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(listing.stdout[listing.stdout.index("[") :])
    return {row["task_id"]: row["state"] for row in rows}


def _scheduler_run(tmp_path: Path, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The DAG run once under the scheduler (LocalExecutor, triggerer; scripts/celery_run.py's stack
    on a metadata database of its own): every task log together, and every task's final state."""
    import socket
    from datetime import UTC, datetime

    from scripts.celery_run import CeleryStack, _pg_url, own_metadata_database

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path.with_name(f"{tmp_path.name}_airflow")  # outside the DAGs folder, which the processor walks
    stack = CeleryStack(
        home=home, metadata_url=own_metadata_database("airflow_e2e_failing_test"), broker_port=0,
        api_port=port, base_env=env, executor="LocalExecutor", workers=(),
    )  # fmt: skip
    stack.migrate()
    with psycopg.connect(_pg_url(stack.metadata_url), autocommit=True) as db:
        db.execute("delete from dag_run where dag_id = %s", (DAG_ID,))  # a run an interrupted test left
    try:
        stack.start((DAG_ID,))
        runs = stack.trigger((DAG_ID,), datetime.now(UTC))
        state = stack.wait(runs, timeout=900)
        assert state.get(DAG_ID) in ("success", "failed"), (state, stack.log_tail("scheduler"))
        states = {t["task_id"]: t["state"] for t in stack.task_instances(runs)}
    finally:
        stack.stop()
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((home / "logs").rglob("*.log")))
    return logs + "\nstate=" + state[DAG_ID], states


# local mode (DBT_EXECUTION_MODE=local, not the default) left out of make test for its 25-minute budget
@pytest.mark.parametrize("mode", ["watcher", "watcher@scheduler"])
def test_failing_test_stops_its_dependants(tmp_path, server_url, mode):
    scheduler = mode.endswith("@scheduler")
    mode = mode.removesuffix("@scheduler")
    project = _write_project(tmp_path)
    dag_file = tmp_path / f"{DAG_ID}.py"
    dag_file.write_text(
        textwrap.dedent(f'''
            """Test DAG: the transform's dbt wiring on a small project."""
            from pathlib import Path
            from airflow.sdk import dag, task
            from cs_analytics.orchestration import DEFAULT_ARGS, START_DATE
            from cs_analytics.transform.dbt import dbt_task_group

            @dag(dag_id="{DAG_ID}", schedule=None, start_date=START_DATE, catchup=False, default_args=DEFAULT_ARGS)
            def check():
                @task
                def before() -> str:
                    return "ok"

                before() >> dbt_task_group("dbt", project_dir=Path({str(project)!r}))

            check()
        ''')
    )
    with throwaway_database(server_url, "dbt_check") as url:
        conn = psycopg.conninfo.conninfo_to_dict(url)
        env = {
            **os.environ,
            "DBT_EXECUTION_MODE": mode,
            "DBT_TARGET_SCHEMA": "check",
            "AIRFLOW_CONN_WAREHOUSE": url.replace("postgresql://", "postgres://", 1),
            "WAREHOUSE_DB": conn["dbname"],
            "TASK_RETRY_DELAY_SECONDS": "1",
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),  # `dags test -f` wants the file in the dags bundle
        }
        parse = subprocess.run(
            ["dbt", "parse", "--project-dir", str(project), "--profiles-dir", str(PROJECT_ROOT / "dbt_project")],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert parse.returncode == 0, parse.stdout[-2000:]
        if scheduler:
            output, states = _scheduler_run(tmp_path, env)
        else:
            run = subprocess.run(
                ["airflow", "dags", "test", DAG_ID, "-f", str(dag_file)],
                env=env, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=900,
            )  # fmt: skip
            output = run.stdout + run.stderr
            states = _task_states(output, env)
        with psycopg.connect(url) as db:
            tables = {
                r[0]
                for r in db.execute("select table_name from information_schema.tables where table_schema = 'check'")
            }
            # dbt worked as its own role (transform/dbt.py), not as the warehouse's owner
            owners = {r[0] for r in db.execute("select tableowner from pg_tables where schemaname = 'check'")}

    def state(model: str, kind: str) -> str | None:
        # Cosmos groups a tested model's run and test tasks; an untested model is one `<model>_run` task
        return states.get(f"dbt.{model}.{kind}", states.get(f"dbt.{model}_{kind}"))

    if mode == "watcher":  # one task per model, its build and its tests (transform/watcher.py)
        assert state("bad_source", "run") == "failed", states
        assert "dbt tests of model 'model.dbt_check.bad_source' failed: one of unique_bad_source_id" in output
        assert not [t for t in states if t.endswith((".test", "_test"))], states
    else:  # a test task after each model
        assert state("bad_source", "run") == "success", states
        assert state("bad_source", "test") == "failed", states
        assert state("independent", "test") == "success", states
    for model in ("child", "grandchild"):
        assert state(model, "run") == "upstream_failed", (model, states)
    assert state("independent", "run") == "success", states
    # dbt never built the dependants of the failing test; the rest was built
    assert tables == {"bad_source", "independent"}, tables
    assert owners == {"transformer"}, owners
    if scheduler:  # the model that passed ended in the triggerer (ModelDoneTrigger), no worker
        assert "model.dbt_check.independent built; its dbt tests passed" in output
    if mode == "watcher":  # one dbt build did the work; it failed, visibly
        assert states.get("dbt.dbt_producer_watcher") == "failed", states
    assert "state=failed" in output if scheduler else (run.returncode != 0 or "state=failed" in output)
