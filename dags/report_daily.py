"""
### report_daily

- **When**: daily at 08:00 Europe/Paris, for the day that just ended.
- **Inputs**: the published marts and the ML outputs (Assets `marts`, `ml_scores`),
  `marts.alert_delivery_log`.
- **Outputs**: the daily report by e-mail and Slack through `meta.outbox` (key
  `report:daily:<period>`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test report_daily 2026-03-10T08:00:00+01:00`
  rebuilds the report of the day before that instant; it is sent once per period (a re-run sends
  nothing new).

Daily KPI report (spec 3.1, "KPIs quotidiens"): every day at 08:00 Europe/Paris, for the
customer-service lead (audience `service_client`: ALERT_EMAIL_TO, SLACK_ALERT_CHANNEL).

Covers the day that just ended: calls, tickets and the day's KPIs against their targets (mart
columns), against the same weekday a week before and a year before; calls over four weeks
against the overload threshold; the alerts of the day as the delivery log has them
(`marts.alert_delivery_log`); the top contact motives.

`wait_for_marts` waits (reschedule mode, bounded by REPORT_MARTS_WAIT_SECONDS) for the period's
marts to be complete and published; `send_report` then writes the report to the outbox under
`report:daily:<period>` and delivers it (e-mail with charts, Slack summary): once per period, a
re-run sends nothing new. Code: `plugins/cs_analytics/reports/`.
"""

from airflow.sdk import dag

from cs_analytics.orchestration import DEFAULT_ARGS, REPORT_RUN_TIMEOUT, START_DATE
from cs_analytics.reports.wiring import report_schedule, report_tasks


@dag(
    dag_id="report_daily",
    schedule=report_schedule("daily"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=REPORT_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["reporting"],
    doc_md=__doc__,
)
def report_daily():
    report_tasks("daily")


report_daily()
