"""The call-volume forecast on hand-built series: weekly pattern, the weather regressor, intervals,
and bad input refused with the model, the input and what is missing named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks import forecast as F

DAYS = 430
START = pd.Timestamp("2024-01-01")


def series(days: int = DAYS, seed: int = 3, cold_spell: slice | None = None) -> pd.DataFrame:
    """Calls with a weekly cycle and a mild season; temperature = a seasonal normal plus noise. A
    cold spell (10 °C below normal) multiplies the calls by 1.4 on business days, as in the world."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(START, periods=days, freq="D")
    normal = 12.8 - 10.0 * np.cos(2 * np.pi * (ds.dayofyear.to_numpy() - 20) / 365.25)
    temperature = normal + rng.normal(0, 1.5, days)
    level = np.array([60, 48, 45, 44, 40, 12, 3], dtype=float)[ds.dayofweek]
    wave = np.zeros(days, bool)
    for start in (40, 70, 330, 365):  # cold spells in the history (heating season)
        wave[start : start + 5] = True
    if cold_spell is not None:
        wave[cold_spell] = True
    temperature = np.where(wave, normal - 10.0, temperature)
    calls = rng.poisson(level * np.where(wave, 1.4, 1.0))
    return pd.DataFrame({"ds": ds, "y": calls.astype(float), "temperature_mean_c": np.round(temperature, 1)})


def runs_for(days: pd.DataFrame, noise: float = 0.8, seed: int = 1) -> pd.DataFrame:
    """One forecast run a day, 16 days each, close to the truth (the skill estimate has data)."""
    rng = np.random.default_rng(seed)
    temp = days.set_index("ds")["temperature_mean_c"]
    rows = []
    for run in days["ds"]:
        ahead = pd.date_range(run, periods=16, freq="D")
        known = ahead[ahead.isin(temp.index)]
        for lead, day in enumerate(known):
            rows.append((run, day, lead, temp[day] + rng.normal(0, noise * (1 + lead / 8))))
    return pd.DataFrame(rows, columns=["run_date", "ds", "lead_days", "temperature_mean_c"])


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    days = series(DAYS + 30, cold_spell=slice(DAYS + 3, DAYS + 8))
    return days, runs_for(days)


def test_forecast_learns_the_weekly_pattern_and_covers_30_days(world):
    days, runs = world
    history, future = F.origin_inputs(days, runs, days["ds"].iloc[DAYS - 1])
    result = F.forecast_calls(history, future, runs, calibrate=False)
    fc = result.forecast
    assert len(fc) == 30 and (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()
    by_day = fc.assign(dow=fc["ds"].dt.dayofweek).groupby("dow")["yhat"].mean()
    assert by_day[0] > 3 * by_day[6]  # Mondays far above Sundays
    assert (fc[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert fc["lead_days"].notna().sum() == 15  # the run issued at the origin reaches 15 days ahead


def test_a_rerun_gives_the_same_interval_and_leaves_numpy_random_alone(world):
    """Prophet samples its interval: unseeded, a re-run of the same day changed coverage_95 (idempotence)."""
    days, runs = world
    history, future = F.origin_inputs(days, runs, days["ds"].iloc[DAYS - 1])
    np.random.seed(5)
    expected_next = np.random.random()
    np.random.seed(5)
    first = F.forecast_calls(history, future, runs, calibrate=False).forecast
    assert np.random.random() == expected_next  # the caller's generator is where it was
    np.random.seed(6)
    second = F.forecast_calls(history, future, runs, calibrate=False).forecast
    pd.testing.assert_frame_equal(first, second)


def test_a_forecast_cold_spell_raises_the_forecast(world):
    """The same history; the weather forecast issued at the origin announces a cold spell on
    days 4-8 or does not: the spell's business days get more calls, other days do not move."""
    days, runs = world
    origin = days["ds"].iloc[DAYS - 1]
    history, future = F.origin_inputs(days, runs, origin)
    spell = future["ds"].between(origin + pd.Timedelta(days=4), origin + pd.Timedelta(days=8))
    mild = future.copy()
    normal = F.fit_climatology(history["ds"], history["temperature_mean_c"])
    mild.loc[spell, "temperature_mean_c"] = np.round(normal(mild.loc[spell, "ds"]), 1)
    cold = F.forecast_calls(history, future, runs, calibrate=False).forecast
    calm = F.forecast_calls(history, mild, runs, calibrate=False).forecast
    business = future["ds"].dt.dayofweek < 5
    ratio = cold["yhat"] / calm["yhat"]
    assert (ratio[spell & business] > 1.15).all()
    assert ratio[~spell].between(0.99, 1.01).all()
    assert F.forecast_calls(history, future, runs, calibrate=False).weather_effect["cold"] > 0.1


def test_interval_is_calibrated_on_inner_backtests_and_grows_with_volume(world):
    days, runs = world
    history, future = F.origin_inputs(days, runs, days["ds"].iloc[DAYS - 1])
    result = F.forecast_calls(history, future, runs)
    assert result.calibration is not None and result.calibration.holdout_days == 60
    assert result.spread is not None and result.spread.a >= 1.0
    fc = result.forecast.assign(width=lambda f: f["yhat_upper"] - f["yhat_lower"])
    assert fc.sort_values("yhat")["width"].iloc[-1] > 2 * fc.sort_values("yhat")["width"].iloc[0]


def test_spread_recovers_a_negative_binomial_variance():
    rng = np.random.default_rng(0)
    mu = rng.uniform(2, 80, 4000)
    shape = 40.0  # gamma-Poisson: variance = mu + mu² / 40
    y = rng.poisson(mu * rng.gamma(shape, 1 / shape, len(mu)))
    spread = F.fit_spread(mu, y)
    assert spread.a == pytest.approx(1.0, abs=0.3) and spread.b == pytest.approx(1 / shape, rel=0.35)
    low, high = spread.bounds(mu)
    assert 0.93 <= ((y >= low) & (y <= high)).mean() <= 0.98


def test_expected_ramp_under_uncertainty():
    # certain: the ramp itself; uncertain: smoothed towards its mean; far below: zero
    assert F.expected_ramp(np.array([5.0]), np.array([0.0]))[0] == pytest.approx(0.5)
    assert F.expected_ramp(np.array([8.0]), np.array([0.0]))[0] == pytest.approx(1.0)
    assert 0 < F.expected_ramp(np.array([2.0]), np.array([3.0]))[0] < 0.3
    assert F.expected_ramp(np.array([-10.0]), np.array([1.0]))[0] == pytest.approx(0.0, abs=1e-9)


def test_forecast_skill_is_estimated_per_lead(world):
    days, runs = world
    normal = F.fit_climatology(days["ds"], days["temperature_mean_c"])
    skill = F.forecast_skill(runs, days.set_index("ds")["temperature_mean_c"], normal).set_index("lead_days")
    assert skill.loc[0, "spread"] < skill.loc[15, "spread"]
    assert 0.5 < skill.loc[1, "slope"] <= 1.05


def test_score_wape_and_coverage():
    fc = pd.DataFrame({"yhat": [10.0, 20.0], "yhat_lower": [5.0, 15.0], "yhat_upper": [15.0, 25.0]})
    m = F.score(pd.Series([12, 30]), fc)
    assert m.wape == pytest.approx((2 + 10) / 42) and m.mae == pytest.approx(6) and m.coverage_95 == 0.5


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(columns=["ds", "y", "temperature_mean_c"]), "prophet_fr_holidays_weather: input ml_daily_calls is empty"),
        (series(30), "has 30 days of call history, needs at least 60"),
        (series(100).assign(y=np.nan), "y \\(calls\\) is null on all of them"),
        (series(100).assign(temperature_mean_c=np.nan), "temperature on 0 of 100 history days.*raw_weather"),
        (series(100).drop(columns="temperature_mean_c"), "lacks column temperature_mean_c"),
        (series(100).drop(columns="y"), "lacks column\\(s\\) y"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_model_input_and_what_is_missing(frame, message):
    with pytest.raises(F.ForecastInputError, match=message):
        F.forecast_calls(frame, calibrate=False)


def test_baselines_on_the_weekly_series():
    history = series(200)
    naive = F.seasonal_naive(history)
    assert len(naive) == 30 and (naive["yhat"].to_numpy()[:7] == history["y"].to_numpy()[-7:]).all()
    arima = F.arima(history)
    assert len(arima) == 30 and (arima["yhat_lower"] <= arima["yhat_upper"]).all()
