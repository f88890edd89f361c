"""
### marts_deadline

- **When**: daily at 00:00 Europe/Paris; alerts if the day's marts are not published by 07:30.
- **Inputs**: `marts.mart_kpi_daily` (Asset `marts`).
- **Outputs**: a critical Slack message and e-mail to data engineering when late.
- **Stages**: `wait_for_daily_marts`, a sensor in reschedule mode (no worker slot held).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test marts_deadline 2026-03-10T00:00:00+01:00`
  waits for the marts of 9 March.

Watches that the day's marts are published in time for the 8:00 daily report: each night at
00:00 (Europe/Paris) a run starts and waits (sensor in reschedule mode, no worker slot held)
until `marts.mart_kpi_daily` holds the day that just ended. An Airflow DeadlineAlert on the
run (reference: its logical date, 00:00; interval 7 h 30) fires if the run has not finished
by 07:30: data engineering gets a critical Slack message and e-mail
(`cs_analytics.alerts.notifiers.marts_deadline_missed`, rule `marts_deadline_missed`), before
the report goes out with incomplete data.
"""

from datetime import timedelta

from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback, dag, task

from cs_analytics.alerts.notifiers import marts_deadline_missed
from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, MARTS, START_DATE, daily_at

MARTS_READY_BY = timedelta(hours=7, minutes=30)


@dag(
    dag_id="marts_deadline",
    schedule=daily_at(0),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["alerting", "transformation"],
    doc_md=__doc__,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=MARTS_READY_BY,
        callback=SyncCallback(marts_deadline_missed),
    ),
)
def marts_deadline():
    @task.sensor(poke_interval=300, timeout=int(timedelta(hours=12).total_seconds()), mode="reschedule", inlets=[MARTS])
    def wait_for_daily_marts(**context) -> bool:
        from cs_analytics.alerts.tasks import daily_marts_ready

        return daily_marts_ready(context)

    wait_for_daily_marts()


marts_deadline()
