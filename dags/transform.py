"""
### transform

- **When**: when all seven raw Assets have been updated since its last run (once a day, after the
  ingestion).
- **Inputs**: the `raw_*` schemas (Assets `raw_crm` ... `raw_weather`).
- **Outputs**: the audited `marts` schema, `meta.dq_results`, `meta.dq_quarantine`, Data Docs; Asset
  `marts`.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test transform 2026-03-10T00:00:00+01:00`
  rebuilds the marts as of 10 March 00:00 Paris (through the day of 9 March).

Builds the star schema and KPI marts with dbt, audits them with Great Expectations, and
publishes them only if they pass (write-audit-publish).

- Runs when all seven raw Assets (`raw_crm`, `raw_cti`, `raw_erp`, `raw_app`,
  `raw_portal_analytics`, `raw_mailbox`, `raw_weather`) have been updated since the last run.
- `as_of`: the instant the run measures the marts at ("today": open tickets' ages, tenure,
  the last KPI day), its data interval end — for an asset-triggered run, the latest data
  interval end of the ingestion runs that triggered it. dbt gets it as DBT_AS_OF (the var
  `as_of` on a command line); the gate judges "not in the future" against it.
- `quality_gate_sources`: the Great Expectations suites of the raw tables, before dbt: a
  critical failure stops the run before anything is built.
- `dbt`: one task per model (astronomer-cosmos, rendered from the dbt manifest). By default
  (DBT_EXECUTION_MODE=watcher) `dbt_producer_watcher` runs ONE `dbt build` with dbt's threads and
  each model's task then shows the model's outcome and its tests' (it fails when a test failed,
  naming the model's tests); `local` runs one dbt invocation per model and per test instead, a
  test task after each model (slower). Either way a failing test stops every model downstream of it. The marts are built into `marts_build`, a schema no reader is
  granted; the incremental facts keep their state there.
- `quality_gate_marts`: the mart suites, on that hidden build.
- A critical failure fails its gate task at once (no retry: data do not fix themselves),
  copies the failing rows to `meta.dq_quarantine` and alerts data engineering (Slack + email)
  with the failed expectations and a link to the Data Docs page (`build/data_docs/`);
  warnings let the run go on and show in the run summary and `meta.dq_latest_warnings`.
  Every outcome is kept in `meta.dq_results`.
- `publish_marts`: only when both gates pass, copies the audited build over the `marts`
  schema in one transaction, grants included, and updates the `marts` Asset: BI, ML and
  alerts read the last good marts until then, never marts that failed their checks.
- `grant_bi_reader`: (re)asserts the read-only `bi_reader` role BI tools connect with
  (the `marts` schema and nothing else); idempotent, see dbt_project/README.md.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, PIPELINE_RUN_TIMEOUT, RAW_ASSETS, START_DATE
from cs_analytics.transform.dbt import dbt_task_group


@dag(
    dag_id="transform",
    schedule=list(RAW_ASSETS),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=PIPELINE_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["transformation", "dbt", "quality", "great_expectations"],
    doc_md=__doc__,
)
def transform():
    @task
    def as_of(**context) -> str:
        from cs_analytics.run_context import resolve_as_of

        return resolve_as_of(context)

    @task
    def quality_gate_sources(as_of_instant: str, **context) -> dict:
        from cs_analytics.quality.tasks import run_quality_gate

        return run_quality_gate(context, as_of_instant, stage="sources")

    @task
    def quality_gate_marts(as_of_instant: str, **context) -> dict:
        from cs_analytics.quality.tasks import run_quality_gate

        return run_quality_gate(context, as_of_instant, stage="marts")

    @task(outlets=[MARTS])
    def publish_marts() -> dict:
        from cs_analytics.transform.publish import publish_marts
        from cs_analytics.warehouse import Warehouse

        return publish_marts(Warehouse.from_connection()).to_dict()

    @task
    def grant_bi_reader() -> dict:
        from cs_analytics.transform.bi_access import ensure_bi_reader
        from cs_analytics.warehouse import Warehouse

        return ensure_bi_reader(Warehouse.from_connection())

    instant = as_of()
    dbt = dbt_task_group("dbt", {"DBT_AS_OF": "{{ ti.xcom_pull(task_ids='as_of') }}"})
    quality_gate_sources(instant) >> dbt >> quality_gate_marts(instant) >> publish_marts() >> grant_bi_reader()


transform()
