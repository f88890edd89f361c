"""
### report_monthly

- **When**: the 1st of the month at 09:00 Europe/Paris, for the month that just ended.
- **Inputs**: the published marts and the ML outputs (Assets `marts`, `ml_scores`),
  `marts.alert_delivery_log`.
- **Outputs**: the monthly report by e-mail and Slack through `meta.outbox` (key
  `report:monthly:<period>`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test report_monthly 2026-03-01T09:00:00+01:00`
  rebuilds the report of the month before that instant; it is sent once per period (a re-run sends
  nothing new).

Monthly direction report (spec 3.1, "Mensuel direction"): the 1st of each month at 09:00
Europe/Paris, for the direction (audience `direction`: DIRECTION_EMAIL_TO, SLACK_DIRECTION_CHANNEL).

Covers the month that just ended: NPS, satisfaction, additional revenue from field quotes,
costs (the cost per call is null until accounting closes the month: the report says so),
month-over-month and year-over-year; twelve-month trends; what moved the call volume; top
motives; RFM segments with their actions and budget shares (spec 004); the month's alerts.

`wait_for_marts` waits (reschedule mode, bounded by REPORT_MARTS_WAIT_SECONDS) for the period's
marts to be complete and published; `send_report` then writes the report to the outbox under
`report:monthly:<period>` and delivers it (e-mail with charts, Slack summary): once per period, a
re-run sends nothing new. Code: `plugins/cs_analytics/reports/`.
"""

from airflow.sdk import dag

from cs_analytics.orchestration import DEFAULT_ARGS, REPORT_RUN_TIMEOUT, START_DATE
from cs_analytics.reports.wiring import report_schedule, report_tasks


@dag(
    dag_id="report_monthly",
    schedule=report_schedule("monthly"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=REPORT_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["reporting"],
    doc_md=__doc__,
)
def report_monthly():
    report_tasks("monthly")


report_monthly()
