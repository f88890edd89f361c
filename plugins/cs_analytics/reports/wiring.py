"""The two tasks every report DAG has, wired once (DAG files stay a schedule and a docstring).

- `wait_for_marts`: sensor in reschedule mode (no worker slot held while waiting), poking every
  REPORT_MARTS_POKE_SECONDS until the period's marts are complete and published; after
  REPORT_MARTS_WAIT_SECONDS it gives up waiting (soft fail: skipped, not failed).
- `send_report`: runs either way (trigger rule none_failed): complete marts, or the report goes
  out with its "données incomplètes" banner. An error while checking (warehouse down) fails the
  sensor and is retried, it does not send a stale report.
"""

from __future__ import annotations

from airflow.sdk import task
from airflow.timetables.trigger import CronTriggerTimetable

from cs_analytics.config import LOCAL_TZ, ReportSettings
from cs_analytics.orchestration import MARTS, ML_SCORES
from cs_analytics.reports.catalog import report


def report_schedule(name: str) -> CronTriggerTimetable:
    """The report's cron in Paris time (catalog.py); each run is an instant, its period the one before."""
    return CronTriggerTimetable(report(name).cron, timezone=LOCAL_TZ)


def report_tasks(name: str):
    settings = ReportSettings.from_env()

    @task.sensor(
        poke_interval=settings.poke_s, timeout=settings.wait_s, mode="reschedule", soft_fail=True, inlets=[MARTS]
    )
    def wait_for_marts(**context) -> bool:
        from cs_analytics.reports.tasks import marts_fresh

        return marts_fresh(name, context)

    @task(trigger_rule="none_failed", inlets=[MARTS, ML_SCORES])
    def send_report(**context) -> dict:
        from cs_analytics.reports.tasks import send_report as send

        return send(name, context)

    return wait_for_marts() >> send_report()
