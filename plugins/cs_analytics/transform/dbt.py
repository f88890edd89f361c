"""How Airflow runs the dbt project (astronomer-cosmos): paths, profile, render options.

The DAG is rendered from dbt's manifest (LoadMode.DBT_MANIFEST), so parsing a DAG
file never runs dbt; `make` refreshes the manifest with `dbt parse`. The `warehouse`
Airflow connection becomes the dbt profile at run time.
"""

from __future__ import annotations

import shutil

from cs_analytics.config import PROJECT_ROOT, WAREHOUSE_CONN_ID, dbt_target_schema

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_executable() -> str:
    venv_dbt = PROJECT_ROOT / ".venv" / "bin" / "dbt"
    return str(venv_dbt) if venv_dbt.exists() else (shutil.which("dbt") or "dbt")


def cosmos_configs(dbt_vars: dict[str, str] | None = None, select: list[str] | None = None) -> dict:
    """Keyword arguments for cosmos.DbtTaskGroup. `dbt_vars` go to every dbt command (Cosmos
    renders them as Jinja templates at run time, e.g. the run's as-of instant from XCom);
    `select` narrows the group to some models (dbt selectors)."""
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    if not MANIFEST_PATH.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {MANIFEST_PATH}: run `make dbt-parse` (make demo/test/ui do it) "
            "so the transformation DAG can be rendered without running dbt at parse time"
        )
    return {
        "project_config": ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=MANIFEST_PATH,
            install_dbt_deps=False,  # no packages: the hub is out of reach, macros live in the project
        ),
        "profile_config": ProfileConfig(
            profile_name="cs_analytics",
            target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=WAREHOUSE_CONN_ID,
                # tests of a model run in parallel inside its test task; the database does the work
                profile_args={"schema": dbt_target_schema(), "threads": 4},
            ),
        ),
        "execution_config": ExecutionConfig(
            dbt_executable_path=dbt_executable(),
            invocation_mode=InvocationMode.DBT_RUNNER,  # in-process: no interpreter start per task
            # A relationships test runs with the model built last (fct_calls -> dim_customer runs with
            # fct_calls), never before its other parent exists, as eager selection would do.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=select or [],
            test_behavior=TestBehavior.AFTER_EACH,  # a failing test stops what depends on the model
            emit_datasets=False,  # the DAG publishes one `marts` Asset, after the quality gate
        ),
        "operator_args": {"install_deps": False, **({"vars": dbt_vars} if dbt_vars else {})},
    }
