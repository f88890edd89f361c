#!/usr/bin/env python3
"""Call-volume forecast quality against the simulator's ground truth.

Fits the production model (ml_tasks.forecast) on the daily call counts up to the end date, then
scores J+1..J+30 against the *true expected* volume the simulator planted (GROUND_TRUTH_DIR/
daily_calls.csv, future rows) — what the model should have learnt, free of Poisson noise. Two
references: the ARIMA(5,1,0) the specification sketches, and a seasonal naive forecast (same
weekday last week).

    scripts/run.sh python benchmarks/forecast_accuracy.py

Prints a table and writes benchmarks/results/forecast_accuracy.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
from ml_tasks.forecast import forecast_calls, score  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "forecast_accuracy.json"
HORIZON = 30


def arima(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    from statsmodels.tsa.arima.model import ARIMA

    fit = ARIMA(history["y"].to_numpy(dtype=float), order=(5, 1, 0)).fit()
    pred = fit.get_forecast(horizon)
    ci = pred.conf_int(alpha=0.05)
    return pd.DataFrame({"yhat": pred.predicted_mean, "yhat_lower": ci[:, 0], "yhat_upper": ci[:, 1]})


def seasonal_naive(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    last_week = history["y"].to_numpy(dtype=float)[-7:]
    yhat = np.resize(last_week, horizon)
    return pd.DataFrame({"yhat": yhat, "yhat_lower": yhat, "yhat_upper": yhat})


def main() -> int:
    truth = pd.read_csv(Path(os.environ["GROUND_TRUTH_DIR"]) / "daily_calls.csv", parse_dates=["date"])
    history = truth[~truth["is_future"]].rename(columns={"date": "ds", "actual_calls": "y"})[["ds", "y"]]
    future = truth[truth["is_future"]].sort_values("date").head(HORIZON)
    rows = []
    for name, fn in (
        ("prophet (production)", lambda h: forecast_calls(h, HORIZON)),
        ("arima(5,1,0) (spec sketch)", lambda h: arima(h, HORIZON)),
        ("seasonal naive", lambda h: seasonal_naive(h, HORIZON)),
    ):
        start = time.perf_counter()
        fc = fn(history).reset_index(drop=True)
        seconds = time.perf_counter() - start
        m = score(future["expected_calls"].reset_index(drop=True), fc)
        rows.append(
            {
                "model": name,
                "wape_vs_true_expected": round(m.wape, 4),
                "mae": round(m.mae, 2),
                "interval_covers_truth": round(m.coverage_95, 3),
                "fit_seconds": round(seconds, 2),
            }
        )
    print(f"\nforecast J+1..J+{HORIZON} after {history['ds'].max():%Y-%m-%d}, scored against the true expected volume")
    print(f"{'model':<28} {'WAPE':>7} {'MAE':>7} {'95% covers':>11} {'fit s':>7}")
    for r in rows:
        print(
            f"{r['model']:<28} {r['wape_vs_true_expected']:>7.3f} {r['mae']:>7.2f} "
            f"{r['interval_covers_truth']:>11.2f} {r['fit_seconds']:>7.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "horizon_days": HORIZON,
                "history_end": str(history["ds"].max().date()),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
