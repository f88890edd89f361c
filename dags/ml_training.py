"""
### ml_training

- **When**: weekly, Monday 00:00 Europe/Paris, for the week that just ended.
- **Inputs**: the feature marts (Asset `marts`).
- **Outputs**: model versions and the champion in the MLflow registry.
- **Owner**: data-engineering.
- **Re-run one day**: `scripts/run.sh airflow dags test ml_training 2026-03-09T00:00:00+01:00`
  retrains on the data up to Monday 9 March (a run covers the week before the instant given).

Weekly (Monday 00:00 Europe/Paris, covering the week that just ended): retrains the models on the
feature marts, records each run as a versioned model in the registry (MLflow: metrics, feature
list, data window, git sha, the model and its plots), and promotes a version to champion only
if it beats the current champion on the same holdout. `ml_scoring` always scores with the champion.

- `churn`: LightGBM with calibrated probabilities (spec 2.2), against logistic regression and the
  specification's random forest on a time-based holdout (the latest labelled month ends);
  promoted on the Brier score.
- `segmentation`: RFM + K-Means with K chosen by elbow and silhouette (004), segments named from
  their profiles; promoted when its silhouette beats the champion's on the same snapshot by 0.02
  (stable segments matter more than a marginal gain).

Anomaly detectors learn their baselines at every scoring run and are not versioned here.
"""

from airflow.sdk import dag, task

from cs_analytics.orchestration import DAILY_RUN_TIMEOUT, DEFAULT_ARGS, MARTS, START_DATE, daily_interval


@dag(
    dag_id="ml_training",
    schedule=daily_interval("0 0 * * 1"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAILY_RUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["ml"],
    doc_md=__doc__,
)
def ml_training():
    @task(inlets=[MARTS])
    def churn(**context) -> dict:
        from cs_analytics.ml.churn import train_task

        return train_task(context)

    @task(inlets=[MARTS])
    def segmentation(**context) -> dict:
        from cs_analytics.ml.segmentation import train_task

        return train_task(context)

    churn()
    segmentation()


ml_training()
