"""
### ingest_mobile_app

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: the technicians' mobile app API (Asset `source_app`).
- **Outputs**: `raw_app` tables, `meta.quarantine`; Asset `raw_app`.
- **Stages**: `load` (one mapped task per resource), then `publish` (updates Asset `raw_app`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_mobile_app 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the technicians' mobile app API into `raw_app`: technicians, interventions,
field quotes and time entries, one mapped task per resource.

- **Incremental**: `updated_since` from the watermark (minus an overlap) with the API's
  keyset cursor; records changed while paging are served again and the latest wins.
- **Idempotent**: upsert on the record id, only when the source version is newer.
- **Lineage**: untouched payload (JSONB), batch id, load time, endpoint on every row.

Connection: `mobile_app_api` (HTTP, API key in the password). Updates Asset `raw_app`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, RAW_APP, SOURCE_APP, START_DATE, daily_interval

RESOURCES = ["technicians", "interventions", "field-quotes", "time-entries"]


@dag(
    dag_id="ingest_mobile_app",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "mobile_app"],
    doc_md=__doc__,
)
def ingest_mobile_app():
    @task(map_index_template="{{ resource }}", inlets=[SOURCE_APP])
    def load(resource: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_mobile_app

        return load_mobile_app(resource, context)

    @task(outlets=[RAW_APP])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("mobile_app", list(results))

    publish(load.expand(resource=RESOURCES))


ingest_mobile_app()
