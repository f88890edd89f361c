"""
### alerts

- **When**: when `ml_scoring` has scored the day (Asset `ml_scores`).
- **Inputs**: the marts and the `ml` schema (Assets `marts`, `ml_scores`), `alerts/rules.yml`.
- **Outputs**: Slack, e-mail and HubSpot messages through `meta.outbox`; `marts.alert_delivery_log`.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test alerts 2026-03-10T00:00:00+01:00`
  re-evaluates the day of 9 March; cooldowns and the outbox keep it from sending anything twice.

Evaluates the business alert rules (`plugins/cs_analytics/alerts/rules.yml`) on the day's
marts and ML outputs, once the models have scored them (Asset `ml_scores`), then delivers:

- KPIs of spec 1.4 (calls over 70, first reply over 4 h, first-contact resolution under 70 %,
  NPS, satisfaction and survey response rate of the last complete week, lost customers and
  field-quote revenue of the last complete month), the operations lists (customers to call
  back about a pending quote, technicians with no clock-in), churn above 70 (alert, CRM task,
  personalised e-mail to the customer) and above 50 (HubSpot retention list), forecast
  peaks, anomalies, model drift, data-quality warnings; and, as a catch-up, the real-time
  rules `alerts_intraday` runs every 15 minutes.
- `evaluate`: writes every decided message to the outbox (`meta.outbox`) with its cooldown
  state, in one transaction per rule; a re-run decides the same keys and adds nothing.
- `deliver`: sends what the outbox holds (Slack, e-mail, HubSpot tasks and lists) with
  retries; what cannot go out now stays pending for the next delivery. The delivery log is
  `marts.alert_delivery_log`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, ML_SCORES, PIPELINE_RUN_TIMEOUT, START_DATE


@dag(
    dag_id="alerts",
    schedule=[ML_SCORES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=PIPELINE_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["alerting", "crm"],
    doc_md=__doc__,
)
def alerts():
    @task(inlets=[MARTS, ML_SCORES])
    def evaluate(**context) -> dict:
        from cs_analytics.alerts.tasks import evaluate_rules

        return evaluate_rules("daily", context)

    @task(trigger_rule="all_done")  # what was written before a rule error is delivered all the same
    def deliver(**context) -> dict:
        from cs_analytics.alerts.tasks import deliver_outbox

        return deliver_outbox(context)

    evaluate() >> deliver()


alerts()
