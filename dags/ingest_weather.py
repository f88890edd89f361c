"""
### ingest_weather

- **When**: daily at 00:00 Europe/Paris, for the Paris day that just ended ([D 00:00, D+1 00:00)).
- **Inputs**: Open-Meteo's archive and single-runs APIs (Asset `source_weather`).
- **Outputs**: `raw_weather.daily_observations`, `raw_weather.daily_forecasts`; Asset `raw_weather`.
- **Stages**: `load` (one mapped task per object), then `publish` (updates Asset `raw_weather`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ingest_weather 2026-03-10T00:00:00+01:00`
  re-runs the day of 9 March (a run covers the day before the instant given); in a deployment, clear
  that run in the UI (Runs, then Clear Run).

Loads the service area's daily weather from Open-Meteo into `raw_weather`, one mapped task
per object:

- `observed`: daily mean, max and min temperature and precipitation from the archive
  (`raw_weather.daily_observations`). The archive ends yesterday and publishes a day about two
  days late: unpublished days are skipped and picked up by a later run.
- `forecast`: each 00:00 UTC model run not loaded yet, its 16 days from the single-runs host
  (`raw_weather.daily_forecasts`), so the call forecast and its backtests use what was known
  on each day.

- **Incremental**: a watermark per object (last observed day, last run); each run re-reads the
  archive's last week (late and revised days). A fresh warehouse loads `WEATHER_BACKFILL_DAYS`
  of observations and `WEATHER_FORECAST_BACKFILL_DAYS` of runs.
- **Idempotent**: upsert on the day (observed) or the run and day (forecast), only when the
  values changed; bulk COPY; lineage (batch, load time, request and day, the day as served).
- **Nothing lost**: unloadable days go to `meta.quarantine` with the reason; an archive with
  nothing newer than `WEATHER_ARCHIVE_MAX_DELAY_DAYS` ago, or a run with no day, fails the task.
- **Quota**: Open-Meteo's 429 has no Retry-After; a minute limit is waited out, an hourly or
  daily one fails the task with the reason (the next run catches up).

Connection: `weather_api` (HTTP; extras `archive_host`, `single_runs_host`). Updates Asset
`raw_weather`, which `transform` waits for with the other sources.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import (
    DAILY_RUN_TIMEOUT,
    DEFAULT_ARGS,
    RAW_WEATHER,
    SOURCE_WEATHER,
    START_DATE,
    daily_interval,
)

OBJECTS = ["observed", "forecast"]


@dag(
    dag_id="ingest_weather",
    schedule=daily_interval(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ingestion", "weather"],
    doc_md=__doc__,
)
def ingest_weather():
    @task(map_index_template="{{ kind }}", inlets=[SOURCE_WEATHER])
    def load(kind: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_weather

        return load_weather(kind, context)

    @task(outlets=[RAW_WEATHER])
    def publish(results: list[dict]) -> dict:
        from cs_analytics.ingestion.tasks import summarise

        return summarise("weather", list(results))

    publish(load.expand(kind=OBJECTS))


ingest_weather()
