"""
### report_weekly

- **When**: Mondays at 09:00 Europe/Paris, for the ISO week that just ended.
- **Inputs**: the published marts and the ML outputs (Assets `marts`, `ml_scores`),
  `marts.alert_delivery_log`.
- **Outputs**: the weekly report by e-mail and Slack through `meta.outbox` (key
  `report:weekly:<period>`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test report_weekly 2026-03-09T09:00:00+01:00`
  rebuilds the report of the ISO week before that instant; it is sent once per period (a re-run
  sends nothing new).

Weekly operations report (spec 3.1, "Hebdo opérationnel"): Mondays at 09:00 Europe/Paris, for the
customer-service lead and the field manager (audiences `service_client` and `field`).

Covers the ISO week that ended on Sunday: the week's synthesis against target, week-over-week
and year-over-year; what moved the call volume (calendar, unusual peaks, motives, weather when
the marts carry it); top motives and the week's issues; the alerts of the week; the
technicians' planning for the week that starts (booked visits, and the optimised routes'
kilometres once `ml.technician_routes` holds those days).

`wait_for_marts` waits (reschedule mode, bounded by REPORT_MARTS_WAIT_SECONDS) for the period's
marts to be complete and published; `send_report` then writes the report to the outbox under
`report:weekly:<period>` and delivers it (e-mail with charts, Slack summary): once per period, a
re-run sends nothing new. Code: `plugins/cs_analytics/reports/`.
"""

from airflow.sdk import dag

from cs_analytics.orchestration import DEFAULT_ARGS, REPORT_RUN_TIMEOUT, START_DATE
from cs_analytics.reports.wiring import report_schedule, report_tasks


@dag(
    dag_id="report_weekly",
    schedule=report_schedule("weekly"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=REPORT_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["reporting"],
    doc_md=__doc__,
)
def report_weekly():
    report_tasks("weekly")


report_weekly()
