"""
### ingest_cti

Loads the telephony call detail records (one `;`-separated CSV per day, Europe/Paris
local times) from the landing folder into `raw_cti.calls`.

1. `wait_for_cdr_file` waits (deferred, no worker slot held) for the day's file
   `cdr_YYYYMMDD.csv`, which the CTI vendor may drop late.
2. `load_cdr_files` loads every file not loaded before, for days up to the interval:
   late files of earlier days are picked up too, a file delivered twice is recognised
   by its content hash, and each file replaces its own day, so re-runs never duplicate.
   Malformed lines, bad encodings and unparsable values go to `meta.quarantine`.

Connection: `cti_landing` (type fs, `path` in extra). Updates Asset `raw_cti`.
"""

from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.sdk import dag, task

from cs_analytics.config import CTI_LANDING_CONN_ID, CtiWaitSettings
from cs_analytics.orchestration import DEFAULT_ARGS, RAW_CTI, START_DATE, daily_interval


@dag(
    dag_id="ingest_cti",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "cti"],
    doc_md=__doc__,
)
def ingest_cti():
    wait = CtiWaitSettings.from_env()
    wait_for_cdr_file = FileSensor(
        task_id="wait_for_cdr_file",
        fs_conn_id=CTI_LANDING_CONN_ID,
        filepath="cdr_{{ data_interval_start.in_timezone('Europe/Paris').strftime('%Y%m%d') }}.csv",
        poke_interval=wait.poke_seconds,
        timeout=int(wait.timeout_hours * 3600),
        mode="reschedule",  # frees the worker slot between looks
    )

    @task(outlets=[RAW_CTI])
    def load_cdr_files(**context) -> dict:
        from cs_analytics.ingestion.tasks import load_cti, summarise

        return summarise("cti", [load_cti(context)])

    wait_for_cdr_file >> load_cdr_files()


ingest_cti()
