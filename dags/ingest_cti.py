"""
### ingest_cti

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00));
  waits up to 8 h for the day's file.
- **Inputs**: the CTI vendor's CDR files in the landing folder (Asset `source_cti`).
- **Outputs**: `raw_cti.calls`, `meta.cti_files`, `meta.cti_held_files`, `meta.quarantine`; Asset
  `raw_cti`.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_cti 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the telephony call detail records (one `;`-separated CSV per day, Europe/Paris
local times) from the landing folder into `raw_cti.calls`.

1. `wait_for_cdr_file` waits (deferred, no worker slot held) for the day's file
   `cdr_YYYYMMDD.csv`, which the CTI vendor may drop late. A file whose last line has no
   line terminator is still being written: it is not ready until complete, or until it has
   stayed unchanged for `CTI_PARTIAL_FILE_WAIT_MINUTES` (then its cut line is quarantined
   as "truncated" and the rest loads).
2. `load_cdr_files` loads every file not loaded before, for days up to the interval:
   late files of earlier days are picked up too; each file replaces its own day, so re-runs
   never duplicate; a file whose content is what its day already holds is a duplicate
   delivery. The encoding is detected per file (UTF-8 with or without BOM, else
   Windows-1252) and recorded in `meta.cti_files`; malformed lines, really corrupt bytes and
   unparsable values go to `meta.quarantine`.

**Held files.** A re-delivery that would leave its day with more than
`CTI_REPLACEMENT_MAX_DROP` (5%) fewer rows, and a file that cannot load at all (empty, no
header, a required column missing), is held in `meta.cti_held_files` with the reason and
the day's row counts before/after; its day keeps what it had, and this run fails (a retry
fails the same way, as does a run whose files exceed `QUARANTINE_MAX_RATE`). To load a held
file as it is, accept it and clear the failed task (or wait for the next run):

    scripts/run.sh python -m cs_analytics.ingestion.cti held
    scripts/run.sh python -m cs_analytics.ingestion.cti accept cdr_20250601_v2.csv

or trigger this DAG with `{"accept_files": ["cdr_20250601_v2.csv"]}`. Accepting a loaded
file lifts its run's quarantine-rate failure. Every replacement is logged with its counts
(`meta.cti_files.rows_before` / `rows_loaded`, `accepted_by`).

Connection: `cti_landing` (type fs, `path` in extra). Updates Asset `raw_cti`.
"""

from airflow.sdk import Param, dag, task

from cs_analytics.config import CtiWaitSettings
from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, RAW_CTI, SOURCE_CTI, START_DATE, daily_interval

wait = CtiWaitSettings.from_env()


@dag(
    dag_id="ingest_cti",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "cti"],
    doc_md=__doc__,
    params={
        "accept_files": Param(
            [],
            type="array",
            items={"type": "string"},
            description="held CDR files to load as they are (see meta.cti_held_files)",
        )
    },
)
def ingest_cti():
    # mode="reschedule" frees the worker slot between looks.
    @task.sensor(poke_interval=wait.poke_seconds, timeout=int(wait.timeout_hours * 3600), mode="reschedule")
    def wait_for_cdr_file(data_interval_start=None) -> bool:
        from cs_analytics.ingestion.tasks import cdr_file_is_ready

        return cdr_file_is_ready(data_interval_start)

    @task(inlets=[SOURCE_CTI], outlets=[RAW_CTI])
    def load_cdr_files(**context) -> dict:
        from cs_analytics.ingestion.tasks import load_cti, summarise

        return summarise("cti", [load_cti(context)])

    wait_for_cdr_file() >> load_cdr_files()


ingest_cti()
