"""
### ingest_crm

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: the HubSpot CRM API (Asset `source_crm`).
- **Outputs**: `raw_crm` tables, rejected rows in `meta.quarantine`; Asset `raw_crm`, which
  `transform` waits for.
- **Stages**: `load` (one mapped task per object), then `publish` (updates Asset `raw_crm`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_crm 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the CRM (HubSpot CRM v3 API) into `raw_crm`: contacts, tickets, feedback
submissions (NPS/CSAT), survey invitations and owners, one mapped task per object.

- **Incremental**: search on the object's last-modification property (`lastmodifieddate` on
  contacts, `hs_lastmodifieddate` on the others) from the watermark (minus an overlap), up to
  the end of the data interval; a fresh warehouse loads the whole history. A search that finds
  nothing while HubSpot's total of the object grew since the last load fails the task.
- **Idempotent**: upsert on the record id, only when the source version is newer.
- **Lineage**: every row keeps the untouched payload (JSONB), batch id, load time, endpoint.
- Rows that cannot be loaded are in `meta.quarantine`; above `QUARANTINE_MAX_RATE` the task fails.

Connection: `crm_api` (HTTP, token in the password). Updates Asset `raw_crm`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, RAW_CRM, SOURCE_CRM, START_DATE, daily_interval

OBJECTS = ["contacts", "tickets", "feedback_submissions", "p_survey_invitations", "owners"]


@dag(
    dag_id="ingest_crm",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "crm"],
    doc_md=__doc__,
)
def ingest_crm():
    @task(map_index_template="{{ object_type }}", inlets=[SOURCE_CRM])
    def load(object_type: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_crm

        return load_crm(object_type, context)

    @task(outlets=[RAW_CRM])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("crm", list(results))

    publish(load.expand(object_type=OBJECTS))


ingest_crm()
