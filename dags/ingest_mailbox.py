"""
### ingest_mailbox

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: the shared mailbox through Microsoft Graph (Asset `source_mailbox`).
- **Outputs**: `raw_mailbox.messages`, the delta cursor in `meta.sync_cursors`; Asset `raw_mailbox`.
- **Stages**: `load`, then `publish` (updates Asset `raw_mailbox`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_mailbox 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the shared customer-service mailbox (Microsoft Graph, the inbox's messages) into
`raw_mailbox.messages`: received and sent instants, sender, subject, conversation, categories and
follow-up flag (an agent completing the flag marks the message handled).

- **Incremental by delta query**: each run applies every change since the previous run's
  `@odata.deltaLink` (kept in `meta.sync_cursors`, replaced in the same transaction as the rows),
  following `@odata.nextLink` pages; a re-run finds nothing new. An expired delta link (410)
  restarts a full round, and messages it no longer returns are marked removed.
- **Moved or deleted messages** (`@removed`) keep their last version, marked `is_removed`.
- **Nothing silently lost**: after the load, the messages not removed must equal the inbox's
  `totalItemCount`; otherwise the task fails without committing.
- **Throttling**: 429 with `Retry-After` is waited out.

Connection: `mailbox_api` (HTTP; login = app client id, password = client secret, extra
`tenant_id`, `mailbox`). Updates Asset `raw_mailbox`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import (
    DAILY_RUN_TIMEOUT,
    DEFAULT_ARGS,
    RAW_MAILBOX,
    SOURCE_MAILBOX,
    START_DATE,
    daily_interval,
)


@dag(
    dag_id="ingest_mailbox",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "mailbox"],
    doc_md=__doc__,
)
def ingest_mailbox():
    @task(inlets=[SOURCE_MAILBOX])
    def load(**context) -> dict:
        from cs_analytics.ingestion.tasks import load_mailbox

        return load_mailbox(context)

    @task(outlets=[RAW_MAILBOX])
    def publish(result: dict) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("mailbox", [result])

    publish(load())


ingest_mailbox()
