"""
### alerts_intraday

- **When**: every 15 minutes, Mon-Fri 08:00-17:45 Europe/Paris.
- **Inputs**: the HubSpot CRM API (Asset `source_crm`), then `raw_crm` through the staging views.
- **Outputs**: `raw_crm` (incremental), messages through `meta.outbox`.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test alerts_intraday 2026-03-10T08:15:00+01:00`
  replays the quarter hour of 10 March 08:15; the outbox sends nothing twice.

The specification's real-time alerts (3.2, "alertes temps réel"): every 15 minutes while the
customer service is open (Mon-Fri 08:00-17:45, Europe/Paris; CronTriggerTimetable, each run
is the instant it is due), so a dissatisfied VIP or a ticket crossing 24 hours reaches the team
within the quarter of an hour, not the next morning.

- `load`: the CRM's contacts, tickets and survey answers changed since the last load,
  incrementally, with the ingestion's own loader (watermark on `hs_lastmodifieddate`, upsert
  by id; the daily `ingest_crm` carries on from the same watermark).
- `evaluate`: the rules with `schedule: intraday` in `alerts/rules.yml` (vip_dissatisfied,
  tickets_waiting_over_24h, ticket_unanswered_24h), read live through the staging views;
  decisions written to the outbox with their cooldown state.
- `deliver`: everything due in the outbox, this run's messages and any left pending by an
  earlier outage.

The delay from the CRM event to the Slack message is measured by
`benchmarks/intraday_alert_delay.py`.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import (
    DEFAULT_ARGS,
    INTRADAY_RUN_TIMEOUT,
    RAW_CRM,
    SOURCE_CRM,
    START_DATE,
    business_hours_every_15_minutes,
)

CRM_OBJECTS = ["contacts", "tickets", "feedback_submissions"]


@dag(
    dag_id="alerts_intraday",
    schedule=business_hours_every_15_minutes(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=INTRADAY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["alerting", "crm", "ingestion"],
    doc_md=__doc__,
)
def alerts_intraday():
    @task(map_index_template="{{ object_type }}", inlets=[SOURCE_CRM])
    def load(object_type: str, **context) -> dict:
        from cs_analytics.ingestion.tasks import load_crm

        return load_crm(object_type, context)

    @task(inlets=[RAW_CRM])
    def evaluate(**context) -> dict:
        from cs_analytics.alerts.tasks import evaluate_rules

        return evaluate_rules("intraday", context)

    @task(trigger_rule="all_done")
    def deliver(**context) -> dict:
        from cs_analytics.alerts.tasks import deliver_outbox

        return deliver_outbox(context)

    load.expand(object_type=CRM_OBJECTS) >> evaluate() >> deliver()


alerts_intraday()
