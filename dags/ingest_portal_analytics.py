"""
### ingest_portal_analytics

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

from cs_analytics.orchestration import DEFAULT_ARGS, RAW_PORTAL, START_DATE, daily_interval

REPORTS = ["daily_traffic", "page_traffic"]


@dag(
    dag_id="ingest_portal_analytics",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "portal_analytics"],
    doc_md=__doc__,
)
def ingest_portal_analytics():
    @task(map_index_template="{{ report }}")
    def load(report: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_portal_analytics

        return load_portal_analytics(report, context)

    @task(outlets=[RAW_PORTAL])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("portal_analytics", list(results))

    publish(load.expand(report=REPORTS))


ingest_portal_analytics()
