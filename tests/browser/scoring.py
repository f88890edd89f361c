"""Every model's output on a test or benchmark world, written by the production functions as
ml_training and ml_scoring write them after the marts, as of the world's last day: the call
forecast, the next day's routes, the anomalies, and churn and segments (trained first: scoring
needs a champion, in the MLflow registry at `registry_url`, a libpq URL of an empty database).
The caller then rebuilds the `ml_outputs` marts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cs_analytics.warehouse import Warehouse


def score_every_model(wh: Warehouse, as_of: date, registry_url: str, artifacts: Path, run_id: str) -> None:
    from cs_analytics.ml import anomalies, churn, routes, segmentation
    from cs_analytics.ml.forecast import write_call_forecast
    from cs_analytics.ml.registry import ModelRegistry

    registry = ModelRegistry(registry_url.replace("postgresql://", "postgresql+psycopg2://", 1), artifacts)

    write_call_forecast(wh, as_of, run_id)
    routes.plan_next_day(wh, as_of, run_id=run_id)
    anomalies.score(wh, as_of)
    for model in (churn, segmentation):
        model.train(wh, registry, as_of, run_id=run_id)
        model.score(wh, registry, as_of)
