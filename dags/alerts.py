"""
### alerts

Evaluates the business alert rules (spec 3.2) on the marts and the fresh ML scores,
for the day the run covers, and notifies by email and Slack:

- important: call overload (more than 70 calls in the day);
- info: unusual call peak (+30% over the same weekday's 4-week average), overload
  forecast in the next 7 days.

Each alert has a stable key (rule + day): a retry or re-run sends only what was not
sent yet (`meta.alert_deliveries`). Runs when Asset `ml_scores` is updated.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, ML_SCORES, START_DATE


@dag(
    dag_id="alerts",
    schedule=[ML_SCORES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["alerting"],
    doc_md=__doc__,
)
def alerts():
    @task
    def evaluate_and_notify(**context) -> dict:
        from cs_analytics.alerts.tasks import evaluate_and_deliver

        return evaluate_and_deliver(context)

    evaluate_and_notify()


alerts()
