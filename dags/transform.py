"""
### transform

Builds the star schema and KPI marts with dbt, then gates them with Great Expectations.

- Runs when all six raw Assets (`raw_crm`, `raw_cti`, `raw_erp`, `raw_app`,
  `raw_portal_analytics`, `raw_mailbox`) have been updated since the last run.
- `dbt`: one run task and one test task per model (astronomer-cosmos, rendered from
  the dbt manifest); a failing test stops every model downstream of it.
- `quality_gate`: Great Expectations suites (`expectations/suites/*.yml`) on the raw
  tables and marts, run as SQL on the warehouse. A critical failure fails the gate at
  once (no retry: data do not fix themselves), copies the failing rows to
  `meta.dq_quarantine` and alerts data engineering (Slack + email) with the failed
  expectations and a link to the Data Docs page (`build/data_docs/`); warnings let the
  run go on and show in the run summary and `meta.dq_latest_warnings`. Every outcome is
  kept in `meta.dq_results`.
- The `marts` Asset is updated only when the gate passes, so ML and alerts never act
  on data that failed its checks.
- `grant_bi_reader`: (re)asserts the read-only `bi_reader` role BI tools connect with
  (the `marts` schema and nothing else); idempotent, see dbt_project/README.md.
"""

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup

from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, RAW_ASSETS, START_DATE
from cs_analytics.transform.dbt import cosmos_configs


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
        from cs_analytics.quality.tasks import run_quality_gate

        return run_quality_gate(context)

    @task
    def grant_bi_reader() -> dict:
        from cs_analytics.transform.bi_access import ensure_bi_reader
        from cs_analytics.warehouse import Warehouse

        return ensure_bi_reader(Warehouse.from_connection())

    dbt >> quality_gate() >> grant_bi_reader()


transform()
