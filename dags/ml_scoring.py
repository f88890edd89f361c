"""
### ml_scoring

- **When**: when `transform` publishes the marts (Asset `marts`).
- **Inputs**: the marts (Asset `marts`) and the registry's champion models.
- **Outputs**: the `ml` schema (forecast, routes, churn, segments, anomalies, drift), the
  `ml_outputs` marts; Asset `ml_scores`.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ml_scoring 2026-03-10T00:00:00+01:00`
  re-scores as of 10 March 00:00 Paris; each output replaces its as-of day.

Scores the models on the marts once the quality gate has published them (Asset `marts`), and
writes the results to the `ml` schema, each run replacing its own as-of day:

- `call_volume_forecast`: daily calls for J+1..J+30 with a 95% interval (Prophet on log calls,
  French holidays, cold/heat regressors from the observed temperatures and the weather
  forecast issued on the as-of day); the interval is sized by two inner 30-day backtests,
  whose metrics go to `ml.model_runs`.
- `plan_technician_routes`: the next day's rounds, planned the evening before from the visits
  booked by the end of the as-of day (OR-Tools VRPTW: booked windows, working hours, lunch,
  durations; each technician from home) → `ml.technician_routes`, summary in `ml.model_runs`.
- `churn`: risk 0-100, band and top three reasons per customer with the registry's champion
  (`ml.churn_scores`); customers above 50 go to `ml.retention_campaign` (spec 2.2).
- `segmentation`: RFM segment per customer with the champion (`ml.customer_segments`, 004).
- `anomalies`: abnormal days (calls, abandonment, tickets, first-reply time) and ERP documents
  (duplicates, night/weekend entries, abnormal amounts, credit notes without invoice), each with
  a score and an explanation (`ml.anomalies`).

Every scoring run stores each feature's drift (PSI against the training window) in
`ml.feature_drift` and logs a warning past 0.2. Scoring needs a champion: `ml_training` first.

Then `present_ml_outputs` rebuilds the dbt models tagged `ml_outputs` (the presentation marts
the dashboards read the ML tables through) into the build schema, and `publish` copies them to
`marts` (write-audit-publish, as the transform DAG does), so a scoring run shows on the models
dashboard at once.

Each output replaces its as-of day's rows, so a re-run never duplicates. Updates Asset
`ml_scores`, which the alerting DAG waits for.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, ML_SCORES, PIPELINE_RUN_TIMEOUT, START_DATE
from cs_analytics.transform.dbt import dbt_task_group


@dag(
    dag_id="ml_scoring",
    schedule=[MARTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=PIPELINE_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ml"],
    doc_md=__doc__,
)
def ml_scoring():
    @task
    def call_volume_forecast(**context) -> dict:
        from cs_analytics.ml.forecast import run_call_forecast

        return run_call_forecast(context)

    @task
    def plan_technician_routes(**context) -> dict:
        from cs_analytics.ml.routes import run_route_planning

        return run_route_planning(context)

    @task
    def churn(**context) -> dict:
        from cs_analytics.ml.churn import score_task

        return score_task(context)

    @task
    def segmentation(**context) -> dict:
        from cs_analytics.ml.segmentation import score_task

        return score_task(context)

    @task
    def anomalies(**context) -> dict:
        from cs_analytics.ml.anomalies import score_task

        return score_task(context)

    @task(outlets=[ML_SCORES])
    def publish(results: list[dict]) -> dict:
        """Every model has written its as-of day: publish the presentation marts over them
        (built into the hidden build schema like every mart), then tell alerts and BI."""
        from cs_analytics.transform.publish import publish_ml_outputs
        from cs_analytics.warehouse import Warehouse

        return {"models": len(results), "published": publish_ml_outputs(Warehouse.from_connection()).to_dict()}

    results = [call_volume_forecast(), plan_technician_routes(), churn(), segmentation(), anomalies()]
    present = dbt_task_group("present_ml_outputs", select=["tag:ml_outputs"])
    results >> present
    present >> publish(results)


ml_scoring()
