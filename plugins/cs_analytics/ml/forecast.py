"""Daily call-volume forecast, the I/O side: read `marts.ml_daily_calls`, call the pure model in
`ml_tasks.forecast`, write `ml.call_volume_forecast` and `ml.model_runs`."""

from __future__ import annotations

import logging
from typing import Any

from cs_analytics.run_context import as_of_date
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows

log = logging.getLogger(__name__)


def run_call_forecast(context: dict[str, Any], horizon: int = 30) -> dict[str, Any]:
    import json

    from ml_tasks.forecast import MODEL_NAME, backtest, forecast_calls

    wh = Warehouse.from_connection()
    asof = as_of_date(context)
    daily = wh.query_df("select ds, y from marts.ml_daily_calls where ds <= %s order by ds", (asof,))
    metrics = backtest(daily)
    fc = forecast_calls(daily, horizon=horizon)
    fc["target_date"] = fc["ds"].dt.date
    fc["horizon_days"] = (fc["ds"] - fc["ds"].min()).dt.days + 1
    ensure_schema(wh)
    with wh.transaction() as conn:
        conn.execute("delete from ml.call_volume_forecast where forecast_date = %s", (asof,))
        with conn.cursor() as cur:
            copy_rows(
                cur,
                "ml.call_volume_forecast",
                ("forecast_date", "target_date", "horizon_days", "yhat", "yhat_lower", "yhat_upper", "model"),
                (
                    (
                        asof,
                        r.target_date,
                        int(r.horizon_days),
                        float(r.yhat),
                        float(r.yhat_lower),
                        float(r.yhat_upper),
                        MODEL_NAME,
                    )
                    for r in fc.itertuples()
                ),
            )
        conn.execute(
            "insert into ml.model_runs (model, as_of_date, metrics, run_id) values (%s, %s, %s, %s) "
            "on conflict (model, as_of_date) do update set metrics = excluded.metrics, run_id = excluded.run_id, "
            "trained_at = now()",
            (MODEL_NAME, asof, json.dumps(metrics.to_dict()), context.get("run_id")),
        )
    log.info("call forecast as of %s: %d days written; backtest %s", asof, len(fc), metrics.to_dict())
    return {"model": MODEL_NAME, "as_of": asof.isoformat(), "rows": len(fc), **metrics.to_dict()}
