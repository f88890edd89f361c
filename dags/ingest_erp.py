"""
### ingest_erp

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: the Sage 100 ERP database (Asset `source_erp`).
- **Outputs**: `raw_erp` tables, `meta.quarantine`; Asset `raw_erp`.
- **Stages**: `load` (one mapped task per table), then `publish` (updates Asset `raw_erp`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_erp 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the Sage 100 ERP tables into `raw_erp`: customers (`F_COMPTET`), items
(`F_ARTICLE`), document headers (`F_DOCENTETE`: quotes, orders, invoices) and lines
(`F_DOCLIGNE`), and the general ledger (`F_ECRITUREC` lines, `F_ECRITUREA` analytic split,
`F_JMOUV` journal periods and their closing), one mapped task per table.

- **Incremental** on `cbModification`, with a lookback (`ERP_LOOKBACK_MINUTES`) for
  transactions committed late; bulk COPY from the ERP straight into the warehouse.
- **Idempotent**: upsert on the Sage key, only when the source row is newer or different.
- **Schema drift**: new source columns are added to the raw table; a missing required
  column fails the task, naming the table and column.

Connection: `erp_db` (Postgres, read-only use). Updates Asset `raw_erp`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, RAW_ERP, SOURCE_ERP, START_DATE, daily_interval

TABLES = ["F_COMPTET", "F_ARTICLE", "F_DOCENTETE", "F_DOCLIGNE", "F_ECRITUREC", "F_ECRITUREA", "F_JMOUV"]


@dag(
    dag_id="ingest_erp",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "erp"],
    doc_md=__doc__,
)
def ingest_erp():
    @task(map_index_template="{{ table }}", inlets=[SOURCE_ERP])
    def load(table: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_erp

        return load_erp(table, context)

    @task(outlets=[RAW_ERP])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("erp", list(results))

    publish(load.expand(table=TABLES))


ingest_erp()
