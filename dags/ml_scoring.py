"""
### ml_scoring

Trains and scores the models on the marts once the quality gate has published them
(Asset `marts`), and writes the results to the `ml` schema:

- `call_volume_forecast`: daily calls for J+1..J+30 with a 95% interval (Prophet on log calls,
  French holidays, cold/heat regressors from the observed temperatures and the weather
  forecast issued on the as-of day); the interval is sized by two inner 30-day backtests,
  whose metrics go to `ml.model_runs`.
- `plan_technician_routes`: the next day's rounds, planned the evening before from the visits
  booked by the end of the as-of day (OR-Tools VRPTW: booked windows, working hours, lunch,
  durations; each technician from home) → `ml.technician_routes`, summary in `ml.model_runs`.

Each output replaces its as-of day's rows, so a re-run never duplicates. Updates Asset
`ml_scores`, which the alerting DAG waits for.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, MARTS, ML_SCORES, START_DATE


@dag(
    dag_id="ml_scoring",
    schedule=[MARTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml"],
    doc_md=__doc__,
)
def ml_scoring():
    @task
    def call_volume_forecast(**context) -> dict:
        from cs_analytics.tasks.ml import run_call_forecast

        return run_call_forecast(context)

    @task
    def plan_technician_routes(**context) -> dict:
        from cs_analytics.ml.routes import run_route_planning

        return run_route_planning(context)

    @task(outlets=[ML_SCORES])
    def publish(forecast: dict, routes: dict) -> dict:
        return {"forecast": forecast, "routes": routes}

    publish(call_volume_forecast(), plan_technician_routes())


ml_scoring()
