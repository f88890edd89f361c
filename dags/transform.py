"""
### transform

Builds the star schema and KPI marts with dbt, then gates them with Great Expectations.

- Runs when all four raw Assets (`raw_crm`, `raw_cti`, `raw_erp`, `raw_app`) have been
  updated since the last run.
- `dbt`: one run task and one test task per model (astronomer-cosmos, rendered from
  the dbt manifest); a failing test stops every model downstream of it.
- `quality_gate`: Great Expectations suites on the raw tables and marts. A critical
  failure fails the gate and alerts data engineering; warnings let the run go on.
- The `marts` Asset is updated only when the gate passes, so ML and alerts never act
  on data that failed its checks.
"""

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup

from cs_analytics.dbt_cosmos import cosmos_configs
from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, RAW_ASSETS, START_DATE


@dag(
    dag_id="transform",
    schedule=list(RAW_ASSETS),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["transformation", "dbt", "quality", "great_expectations"],
    doc_md=__doc__,
)
def transform():
    dbt = DbtTaskGroup(group_id="dbt", **cosmos_configs())

    @task(outlets=[MARTS])
    def quality_gate(**context) -> dict:
        from cs_analytics.tasks.quality import run_quality_gate

        return run_quality_gate(context)

    dbt >> quality_gate()


transform()
