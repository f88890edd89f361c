"""
### report_quarterly

- **When**: the 1st of January, April, July and October at 10:00 Europe/Paris, for the quarter that
  just ended.
- **Inputs**: the published marts and the ML outputs (Assets `marts`, `ml_scores`),
  `marts.alert_delivery_log`.
- **Outputs**: the quarterly report by e-mail and Slack through `meta.outbox` (key
  `report:quarterly:<period>`).
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test report_quarterly 2026-04-01T10:00:00+02:00`
  rebuilds the report of the quarter before that instant; it is sent once per period (a re-run sends
  nothing new).

Quarterly strategic report (spec 3.1, "Trimestriel stratégique"): the 1st of January, April,
July and October at 10:00 Europe/Paris, for the management committee (audience `codir`:
CODIR_EMAIL_TO, SLACK_CODIR_CHANNEL).

Covers the quarter that just ended: the KPIs against target, quarter-over-quarter and against
the same quarter last year, their evolution over eight quarters (`marts.mart_kpi_quarterly`);
what moved the call volume; RFM segments with actions and budget shares; the cohort retention
table and the Kaplan-Meier retention curve with its confidence band; recommendations derived
from the figures.

`wait_for_marts` waits (reschedule mode, bounded by REPORT_MARTS_WAIT_SECONDS) for the period's
marts to be complete and published; `send_report` then writes the report to the outbox under
`report:quarterly:<period>` and delivers it (e-mail with charts, Slack summary): once per period, a
re-run sends nothing new. Code: `plugins/cs_analytics/reports/`.
"""

from airflow.sdk import dag

from cs_analytics.orchestration import DEFAULT_ARGS, REPORT_RUN_TIMEOUT, START_DATE
from cs_analytics.reports.wiring import report_schedule, report_tasks


@dag(
    dag_id="report_quarterly",
    schedule=report_schedule("quarterly"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=REPORT_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["reporting"],
    doc_md=__doc__,
)
def report_quarterly():
    report_tasks("quarterly")


report_quarterly()
