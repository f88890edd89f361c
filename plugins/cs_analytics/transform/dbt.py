"""How Airflow runs the dbt project (astronomer-cosmos): paths, profile, render options.

The DAG is rendered from dbt's manifest (LoadMode.DBT_MANIFEST), so parsing a DAG
file never runs dbt; `make` refreshes the manifest with `dbt parse`. dbt works as the
`transformer` role: its connection (`warehouse_transformer`, host and database from `warehouse`)
becomes the dbt profile at run time, and the group's first task (`dbt_ready`) sets the
warehouse's roles up first when they are not current (roles.py). WAREHOUSE_SINGLE_ROLE=true:
the `warehouse` connection.

Execution (DBT_EXECUTION_MODE): `watcher` (the default) runs ONE `dbt build` with dbt's own
threads in a producer task, and each model keeps one task in the UI, which reads the producer's
results for the model and its tests (watcher.py); `local` runs one dbt invocation per model and
per test (several times slower, benchmarks/transform_overhead.py). In both, a failing test stops
the models that depend on it: `dbt build` skips them and their tasks end upstream_failed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cs_analytics.config import (
    PROJECT_ROOT,
    WAREHOUSE_CONN_ID,
    dbt_execution_mode,
    dbt_invocation_mode,
    dbt_target_schema,
    single_role,
    warehouse_role_conn_id,
)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_executable() -> str:
    venv_dbt = PROJECT_ROOT / ".venv" / "bin" / "dbt"
    return str(venv_dbt) if venv_dbt.exists() else (shutil.which("dbt") or "dbt")


def cosmos_configs(
    dbt_env: dict[str, str] | None = None, select: list[str] | None = None, project_dir: Path = DBT_PROJECT_DIR
) -> dict:
    """Keyword arguments for cosmos.DbtTaskGroup. `dbt_env` is every dbt command's environment (Cosmos
    renders them as Jinja templates at run time, e.g. the run's as-of instant from XCom);
    `select` narrows the group to some models (dbt selectors); `project_dir` is another dbt project
    (the tests' small one)."""
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    manifest_path = project_dir / "target" / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {manifest_path}: run `make dbt-parse` (make demo/test/ui do it) "
            "so the transformation DAG can be rendered without running dbt at parse time"
        )
    project_config = ProjectConfig(
        dbt_project_path=project_dir,
        manifest_path=manifest_path,
        install_dbt_deps=False,  # no packages: the hub is out of reach, macros live in the project
    )
    # Cosmos wraps the manifest in an ObjectStoragePath, whose first read loads Airflow's plugins
    # manager (for hook lineage) and with it every plugin, Cosmos's FastAPI app included: a third
    # of the parse time of the DAG files that render dbt. The manifest is a local file: read it as one.
    project_config.manifest_path = manifest_path
    return {
        "project_config": project_config,
        "profile_config": ProfileConfig(
            profile_name="cs_analytics",
            target_name="airflow",
            profile_mapping=_profile_mapping(
                # tests of a model run in parallel inside its test task; the database does the work
                profile_args={"schema": dbt_target_schema(), "threads": 4},
            ),
        ),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if dbt_execution_mode() == "watcher" else ExecutionMode.LOCAL,
            # The producer's dbt build cannot be retried by Airflow (Cosmos skips a second attempt, which
            # would hide the failure); a failed model or test task retries alone, running dbt for itself.
            setup_operator_args={"retries": 0},
            dbt_executable_path=dbt_executable(),
            invocation_mode=InvocationMode(dbt_invocation_mode()),
            # A relationships test runs with the model built last (fct_calls -> dim_customer runs with
            # fct_calls), never before its other parent exists, as eager selection would do.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=select or [],
            # watcher: one task per model, its build and its tests (watcher.py); local: a test task
            # after each model. Either way a failing test stops what depends on the model.
            test_behavior=TestBehavior.NONE if dbt_execution_mode() == "watcher" else TestBehavior.AFTER_EACH,
            emit_datasets=False,  # the DAG publishes one `marts` Asset, after the quality gate
        ),
        "operator_args": {"install_deps": False, **({"env": dbt_env} if dbt_env else {})},
    }


def _profile_mapping(profile_args: dict):
    """Cosmos's Postgres profile from the transformer's connection, which may give only a login and
    password: the rest is the owner's `warehouse` connection (connections.role_postgres_dsn)."""
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    if single_role():
        return PostgresUserPasswordProfileMapping(conn_id=WAREHOUSE_CONN_ID, profile_args=profile_args)

    class RoleProfileMapping(PostgresUserPasswordProfileMapping):
        @property
        def conn(self):
            if not self._conn:
                from airflow.sdk import Connection

                from cs_analytics.connections import get_connection

                role, owner = get_connection(self.conn_id), get_connection(WAREHOUSE_CONN_ID)
                self._conn = Connection(
                    conn_id=self.conn_id,
                    conn_type="postgres",
                    host=role.host or owner.host,
                    port=role.port or owner.port,
                    schema=role.schema or owner.schema,
                    login=role.login,
                    password=role.password,
                    extra=role.extra or owner.extra,
                )
            return self._conn

    return RoleProfileMapping(conn_id=warehouse_role_conn_id("transformer"), profile_args=profile_args)


def warehouse_setup() -> dict:
    """`dbt_ready`: the roles are current (set up as the owner otherwise) and the transformer logs in."""
    from cs_analytics.roles import TRANSFORMER, flow_warehouse

    user = flow_warehouse(TRANSFORMER).query("select current_user")[0][0]
    return {"dbt_runs_as": user}


def dbt_task_group(
    group_id: str,
    dbt_env: dict[str, str] | None = None,
    select: list[str] | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
):
    """The dbt project as a Cosmos DbtTaskGroup (see cosmos_configs), wired so it runs the same
    under the scheduler and under `airflow dags test`.

    In watcher mode Cosmos leaves the producer and the model tasks side by side; `dags test` runs
    ready tasks one at a time in no set order, and a model task started before the producer would
    wait for it forever. So the group starts with `dbt_ready` (what comes before the group points
    at it), then the producer, then the model tasks, which read the producer's results once it has
    finished, failed included (that is how a failing test shows on its own task); they still end
    upstream_failed when what comes before the group failed, since dbt_ready then never succeeds.
    """
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.task.trigger_rule import TriggerRule
    from cosmos import DbtTaskGroup
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    from cs_analytics.transform.watcher import fold_tests_into_models

    group = DbtTaskGroup(group_id=group_id, **cosmos_configs(dbt_env, select, project_dir))
    producer = group.children.get(f"{group_id}.{PRODUCER_WATCHER_TASK_ID}")
    roots = list(group.get_roots())  # before dbt_ready joins the group
    dbt_ready = PythonOperator(task_id="dbt_ready", task_group=group, python_callable=warehouse_setup)
    if producer is None:  # local mode: every task runs its own dbt, in dependency order
        for task in roots:
            dbt_ready >> task
        return group
    fold_tests_into_models(group, producer, project_dir / "target" / "manifest.json")
    cosmos_own = {producer.task_id, f"{group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"}
    roots = [t for t in roots if t.task_id not in cosmos_own]
    dbt_ready >> producer
    for task in roots:
        [dbt_ready, producer] >> task
        task.trigger_rule = TriggerRule.ALL_DONE_MIN_ONE_SUCCESS
    return group
