"""
### ml_scoring

Trains and scores the models on the marts once the quality gate has published them
(Asset `marts`), and writes the results to the `ml` schema:

- `call_volume_forecast`: daily calls for J+1..J+30 with a 95% interval (Prophet,
  French holidays), backtested on the last 28 days (`ml.model_runs`).

Updates Asset `ml_scores`, which the alerting DAG waits for.
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
    @task(outlets=[ML_SCORES])
    def call_volume_forecast(**context) -> dict:
        from cs_analytics.ml.forecast import run_call_forecast

        return run_call_forecast(context)

    call_volume_forecast()


ml_scoring()
