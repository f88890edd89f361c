"""Daily call-volume forecast, the I/O side: read `marts.ml_daily_calls` and the weather forecasts
of `marts.ml_weather_forecasts`, call the pure model in `ml_tasks.forecast`, write
`ml.call_volume_forecast` and `ml.model_runs`."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from cs_analytics.ml.common import ensure_ml_schema, record_training
from cs_analytics.run_context import as_of_date
from cs_analytics.warehouse import Warehouse, copy_rows

log = logging.getLogger(__name__)


def run_call_forecast(context: dict[str, Any], horizon: int = 30) -> dict[str, Any]:
    """Task entry point of ml_scoring: the forecast as of the run's last full day."""
    return write_call_forecast(Warehouse.for_flow("ml"), as_of_date(context), context.get("run_id"), horizon)


def write_call_forecast(wh: Warehouse, asof: date, run_id: str | None = None, horizon: int = 30) -> dict[str, Any]:
    """Forecast J+1..J+horizon from the history up to `asof` and the weather forecast issued then;
    replace the as-of day's rows (a re-run never duplicates) and record the run's metrics."""
    from ml_tasks.forecast import MODEL_NAME, forecast_calls

    daily = wh.query_df(
        "select ds, y, is_future, temperature_mean_c, temperature_run_date from marts.ml_daily_calls "
        "where ds <= %s::date + %s order by ds",
        (asof, horizon),
    )
    runs = wh.query_df(
        "select run_date, ds, lead_days, temperature_mean_c from marts.ml_weather_forecasts where run_date <= %s",
        (asof,),
    )
    history, future = forecast_inputs(daily, asof, horizon)
    result = forecast_calls(history, future, runs)
    fc = result.forecast
    fc["target_date"] = fc["ds"].dt.date
    fc["horizon_days"] = (fc["ds"] - fc["ds"].min()).dt.days + 1
    metrics = {
        # the two inner 30-day backtests (origin - 30 and - 60 days) that sized the interval
        **(result.calibration.to_dict() if result.calibration else {}),
        "interval_spread": None
        if result.spread is None
        else {"a": round(result.spread.a, 3), "b": round(result.spread.b, 4)},
        "weather_effect_log": result.weather_effect,
        "days_with_weather_forecast": int(fc["lead_days"].notna().sum()),
        "history_days": len(history),
    }
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        conn.execute("delete from ml.call_volume_forecast where forecast_date = %s", (asof,))
        with conn.cursor() as cur:
            copy_rows(
                cur,
                "ml.call_volume_forecast",
                (
                    "forecast_date",
                    "target_date",
                    "horizon_days",
                    "yhat",
                    "yhat_lower",
                    "yhat_upper",
                    "model",
                    "temperature_mean_c",
                    "weather_lead_days",
                ),  # fmt: skip
                (
                    (
                        asof,
                        r.target_date,
                        int(r.horizon_days),
                        float(r.yhat),
                        float(r.yhat_lower),
                        float(r.yhat_upper),
                        MODEL_NAME,
                        None if r.temperature_mean_c != r.temperature_mean_c else float(r.temperature_mean_c),
                        None if r.lead_days != r.lead_days else int(r.lead_days),
                    )
                    for r in fc.itertuples()
                ),
            )
        record_training(conn, MODEL_NAME, asof, metrics, run_id)
    log.info("call forecast as of %s: %d days written; %s", asof, len(fc), metrics)
    return {"model": MODEL_NAME, "as_of": asof.isoformat(), "rows": len(fc), **metrics}


def forecast_inputs(daily, asof: date, horizon: int):
    """History (days up to the as-of day) and the horizon's days with the temperature forecast
    issued by the as-of day, from marts.ml_daily_calls."""
    import pandas as pd

    daily = daily.assign(ds=pd.to_datetime(daily["ds"]))
    history = daily[(daily["ds"] <= pd.Timestamp(asof)) & ~daily["is_future"].astype(bool)]
    wanted = pd.DataFrame({"ds": pd.date_range(pd.Timestamp(asof) + pd.Timedelta(days=1), periods=horizon)})
    ahead = daily[daily["is_future"].astype(bool)][["ds", "temperature_mean_c", "temperature_run_date"]]
    future = wanted.merge(ahead, on="ds", how="left")
    run = pd.to_datetime(future["temperature_run_date"])
    future["lead_days"] = (future["ds"] - run).dt.days
    return history[["ds", "y", "temperature_mean_c"]].reset_index(drop=True), future.drop(
        columns="temperature_run_date"
    )
