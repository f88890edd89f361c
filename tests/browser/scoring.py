"""Every model's output on a test or benchmark world, written by the production functions as
ml_training and ml_scoring write them after the marts, as of the world's last day: the call
forecast, the next day's routes, the anomalies, and churn and segments (trained first: scoring
needs a champion, in the registry given). The caller then rebuilds the `ml_outputs` marts."""

from __future__ import annotations

from datetime import date

from cs_analytics.warehouse import Warehouse


def score_every_model(wh: Warehouse, as_of: date, registry, run_id: str) -> None:
    from cs_analytics.ml import anomalies, churn, routes, segmentation
    from cs_analytics.ml.forecast import write_call_forecast

    write_call_forecast(wh, as_of, run_id)
    routes.plan_next_day(wh, as_of, run_id=run_id)
    anomalies.score(wh, as_of)
    for model in (churn, segmentation):
        model.train(wh, registry, as_of, run_id=run_id)
        model.score(wh, registry, as_of)
