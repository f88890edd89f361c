"""Call-volume forecast (spec 2.1): daily calls J+1..J+30 with a 95% interval.

Prophet with weekly and yearly seasonality and French public holidays. Quality is
measured by a backtest on the last `holdout_days` of history (MAPE, interval coverage).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

MODEL_NAME = "prophet_fr_holidays"


@dataclass(frozen=True)
class ForecastMetrics:
    holdout_days: int
    wape: float  # sum |error| / sum actual: MAPE explodes on near-empty Sundays, WAPE does not
    mae: float
    coverage_95: float  # share of holdout days inside the 95% interval

    def to_dict(self) -> dict:
        return {
            "holdout_days": self.holdout_days,
            "wape": round(self.wape, 4),
            "mae": round(self.mae, 2),
            "coverage_95": round(self.coverage_95, 3),
        }


def score(actual: pd.Series, forecast: pd.DataFrame) -> ForecastMetrics:
    """Metrics of `forecast` (yhat, yhat_lower, yhat_upper) against `actual`, aligned by position."""
    y = actual.to_numpy(dtype=float)
    err = np.abs(y - forecast["yhat"].to_numpy())
    inside = (y >= forecast["yhat_lower"].to_numpy()) & (y <= forecast["yhat_upper"].to_numpy())
    return ForecastMetrics(len(y), float(err.sum() / max(y.sum(), 1.0)), float(err.mean()), float(inside.mean()))


def _fit_predict(history: pd.DataFrame, horizon: int, interval_width: float) -> pd.DataFrame:
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    model = Prophet(
        interval_width=interval_width,
        weekly_seasonality=True,
        yearly_seasonality=True,
        daily_seasonality=False,
        seasonality_mode="multiplicative",
    )
    model.add_country_holidays(country_name="FR")
    model.fit(history[["ds", "y"]])
    future = model.make_future_dataframe(periods=horizon, freq="D", include_history=False)
    fc = model.predict(future)[["ds", "yhat", "yhat_lower", "yhat_upper"]]
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        fc[col] = fc[col].clip(lower=0)  # a call count is never negative
    return fc


def prepare_history(daily: pd.DataFrame) -> pd.DataFrame:
    """ds/y frame, one row per day, sorted; the days before the first call are dropped."""
    df = daily[["ds", "y"]].copy()
    df["ds"] = pd.to_datetime(df["ds"])
    df["y"] = df["y"].astype(float)
    return df.sort_values("ds").reset_index(drop=True)


def forecast_calls(daily: pd.DataFrame, horizon: int = 30, interval_width: float = 0.95) -> pd.DataFrame:
    """Forecast the `horizon` days after the last day of `daily` (columns ds, y)."""
    history = prepare_history(daily)
    if len(history) < 60:
        raise ValueError(f"need at least 60 days of history to forecast, got {len(history)}")
    return _fit_predict(history, horizon, interval_width)


def backtest(daily: pd.DataFrame, holdout_days: int = 28, interval_width: float = 0.95) -> ForecastMetrics:
    history = prepare_history(daily)
    train, test = history.iloc[:-holdout_days], history.iloc[-holdout_days:]
    fc = _fit_predict(train, holdout_days, interval_width).merge(test, on="ds")
    return score(fc["y"], fc)
