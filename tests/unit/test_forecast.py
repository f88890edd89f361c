"""The call-volume forecast on hand-built series with a known weekly pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks.forecast import backtest, forecast_calls, score


def weekly_series(days: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    level = np.array([60, 48, 45, 44, 40, 12, 3])[ds.dayofweek]  # Monday busiest, Sunday near zero
    return pd.DataFrame({"ds": ds, "y": rng.poisson(level)})


def test_forecast_learns_the_weekly_pattern_and_covers_30_days():
    fc = forecast_calls(weekly_series(), horizon=30)
    assert len(fc) == 30 and (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()
    by_day = fc.assign(dow=fc["ds"].dt.dayofweek).groupby("dow")["yhat"].mean()
    assert by_day[0] > 3 * by_day[6]  # Mondays far above Sundays
    assert (fc[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()


def test_backtest_is_accurate_on_a_regular_series():
    m = backtest(weekly_series(), holdout_days=28)
    assert m.wape < 0.2 and m.coverage_95 > 0.8


def test_score_wape_and_coverage():
    fc = pd.DataFrame({"yhat": [10.0, 20.0], "yhat_lower": [5.0, 15.0], "yhat_upper": [15.0, 25.0]})
    m = score(pd.Series([12, 30]), fc)
    assert m.wape == pytest.approx((2 + 10) / 42) and m.mae == pytest.approx(6) and m.coverage_95 == 0.5


def test_too_short_history_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="at least 60 days"):
        forecast_calls(weekly_series(days=30))
