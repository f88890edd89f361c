"""
### ingest_portal_analytics

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: the customer portal's GA4 property (Asset `source_portal_analytics`).
- **Outputs**: `raw_portal` tables; Asset `raw_portal_analytics`.
- **Stages**: `load` (one mapped task per report), then `publish` (updates Asset `raw_portal_analytics`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_portal_analytics
  2026-03-10T00:00:00+01:00` re-runs the day of 9 March (a run covers the day before the instant
  given); in a deployment, clear that run in the UI (Runs, then Clear Run).

Loads the customer portal's web analytics (Google Analytics 4 Data API, `runReport`) into
`raw_portal`: `daily_traffic` (per day) and `page_traffic` (per day and page path) — sessions,
page views, engagement time and key events — one mapped task per report.

- **Revisions**: GA4 keeps processing a day for up to ~72 h, so each run re-reads the
  `GA4_REVISION_DAYS` (3) days before its watermark; a revised row is updated in place
  (`_revision` counts the revisions), never duplicated. A fresh warehouse loads the whole property.
- **Complete or nothing**: rows are ordered on the dimensions and paged with `limit`/`offset` up
  to GA4's `rowCount`; fewer rows than `rowCount`, or a window without any data (wrong property,
  tag removed), fails the task without committing.
- **Quotas**: property tokens per hour/day exhausted (429 `RESOURCE_EXHAUSTED`) fail the try at
  once; the task's retries come back later.
- **Lineage**: every row keeps the report row as served (JSONB), batch id, load time, endpoint.

Connection: `portal_analytics_api` (HTTP; extra `property_id` and the service-account key as
`key_path` or `keyfile_dict`). Updates Asset `raw_portal_analytics`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import (
    DAILY_RUN_TIMEOUT,
    DEFAULT_ARGS,
    RAW_PORTAL,
    SOURCE_PORTAL,
    START_DATE,
    daily_interval,
)

REPORTS = ["daily_traffic", "page_traffic"]


@dag(
    dag_id="ingest_portal_analytics",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "portal_analytics"],
    doc_md=__doc__,
)
def ingest_portal_analytics():
    @task(map_index_template="{{ report }}", inlets=[SOURCE_PORTAL])
    def load(report: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_portal_analytics

        return load_portal_analytics(report, context)

    @task(outlets=[RAW_PORTAL])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("portal_analytics", list(results))

    publish(load.expand(report=REPORTS))


ingest_portal_analytics()
