"""Call-volume forecast (spec 2.1): daily calls J+1..J+30 with a 95% interval, weather-aware.

Production model: Prophet on log(1 + calls), so weekday, season, holidays, trend and weather
multiply one another as they do in the data (a cold wave adds 40% to a Monday, not a fixed number
of calls to a Sunday), with French public holidays and two temperature regressors:

- `cold` / `heat`: how far the day is beyond 4-6 °C from its seasonal normal, cold in the heating
  season (normal below 14.5 °C), heat outside it, as a 0-1 ramp (breakdown calls come with
  extremes, not with a mild day). The normal is a two-harmonic fit of the observed temperatures.
- On history days the observed temperature gives the ramp. On future days the weather forecast
  issued at the origin does, as an *expected* ramp: the forecast's skill at each lead (the slope
  and spread of the observed anomaly on the forecast one, estimated from past runs) turns the
  forecast into a distribution of the true anomaly. A far day's forecast barely moves the ramp;
  a day past the forecast's reach gets the climatological expectation.

The 95% interval comes from how far actual calls fell from the forecast in two earlier 30-day
backtests inside the training data: a variance growing with the volume (Poisson, plus day-to-day
over-dispersion and the forecast's own error), as negative-binomial quantiles around the point.
Prophet's own interval is in log space (too wide on busy days, too narrow on quiet ones) and
calibrated on in-sample residuals (too narrow out of sample).

Baselines for the benchmark: seasonal naive, the specification's ARIMA(5,1,0), a weekly SARIMA.
Everything here is pure: DataFrames in, DataFrames and small dataclasses out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MODEL_NAME = "prophet_fr_holidays_weather"
INPUT_NAME = "ml_daily_calls"
MIN_HISTORY_DAYS = 60
HORIZON_DAYS = 30
RAMP_C = (4.0, 6.0)  # anomaly (°C beyond normal) where the weather effect starts and saturates
HEATING_NORMAL_BELOW_C = 14.5  # days whose normal is colder than this are in the heating season
MIN_SKILL_PAIRS = 30  # forecast/observation pairs needed to trust a lead's skill estimate
CALIBRATION_ORIGINS = (30, 60)  # inner backtests (days before the origin) that size the interval
YEARLY_SEASONALITY_MIN_DAYS = 365  # a yearly cycle fitted on less than a year extrapolates wildly


class ForecastInputError(ValueError):
    """The model's input cannot support a forecast; the message names model, input and what is missing."""


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


@dataclass(frozen=True)
class CallSpread:
    """How far actual calls fall from the point forecast, learnt from inner backtests:
    variance = a * yhat + b * yhat² (a >= 1: at least Poisson; b: day-to-day over-dispersion and
    the forecast's own error, both growing with the volume). Its negative-binomial quantiles give
    the interval, narrow on a quiet Sunday, wide on a busy Monday."""

    a: float
    b: float

    def bounds(self, yhat: np.ndarray, width: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        from scipy.stats import nbinom, poisson

        mu = np.maximum(np.asarray(yhat, dtype=float), 1e-6)
        var = self.a * mu + self.b * mu**2
        tail = (1 - width) / 2
        over = var > mu * (1 + 1e-9)
        n = np.where(over, mu**2 / np.maximum(var - mu, 1e-12), 1.0)
        p = np.where(over, mu / var, 0.5)
        lower = np.where(over, nbinom.ppf(tail, n, p), poisson.ppf(tail, mu))
        upper = np.where(over, nbinom.ppf(1 - tail, n, p), poisson.ppf(1 - tail, mu))
        return lower.astype(float), upper.astype(float)


def fit_spread(yhat: np.ndarray, actual: np.ndarray) -> CallSpread:
    """a, b of the variance of `actual` around `yhat` (non-negative least squares on squared errors)."""
    from scipy.optimize import nnls

    mu = np.maximum(np.asarray(yhat, dtype=float), 1e-6)
    excess = (np.asarray(actual, dtype=float) - mu) ** 2 - mu  # what Poisson noise does not explain
    (a_extra, b), _ = nnls(np.column_stack([mu, mu**2]), excess)
    return CallSpread(1.0 + float(a_extra), float(b))


@dataclass(frozen=True)
class CallForecast:
    forecast: pd.DataFrame  # ds, yhat, yhat_lower, yhat_upper, temperature_mean_c, lead_days
    spread: CallSpread | None  # the interval's model (None: Prophet's own interval, uncalibrated)
    calibration: ForecastMetrics | None  # the inner backtests (origin - 30 and - 60 days, 30 days ahead)
    weather_effect: dict[str, float]  # the regressors' coefficients (log scale)


def score(actual: pd.Series, forecast: pd.DataFrame) -> ForecastMetrics:
    """Metrics of `forecast` (yhat, yhat_lower, yhat_upper) against `actual`, aligned by position."""
    y = actual.to_numpy(dtype=float)
    err = np.abs(y - forecast["yhat"].to_numpy())
    inside = (y >= forecast["yhat_lower"].to_numpy()) & (y <= forecast["yhat_upper"].to_numpy())
    return ForecastMetrics(len(y), float(err.sum() / max(y.sum(), 1.0)), float(err.mean()), float(inside.mean()))


# --------------------------------------------------------------------------- input checks
def prepare_history(daily: pd.DataFrame, model: str = MODEL_NAME, source: str = INPUT_NAME) -> pd.DataFrame:
    """ds/y(/temperature) frame of the history days, sorted; raises ForecastInputError naming what is missing."""
    if daily is None or len(daily) == 0:
        raise ForecastInputError(f"{model}: input {source} is empty: no day of call history to learn from")
    missing = [c for c in ("ds", "y") if c not in daily.columns]
    if missing:
        raise ForecastInputError(f"{model}: input {source} lacks column(s) {', '.join(missing)}")
    df = daily.copy()
    if "is_future" in df.columns:
        df = df[~df["is_future"].astype(bool)]
    df["ds"] = pd.to_datetime(df["ds"])
    df = df.sort_values("ds").reset_index(drop=True)
    known = int(df["y"].notna().sum())
    if known == 0:
        raise ForecastInputError(
            f"{model}: input {source} has {len(df)} history days but y (calls) is null on all of them"
        )
    if known < MIN_HISTORY_DAYS:
        raise ForecastInputError(
            f"{model}: input {source} has {known} days of call history, needs at least {MIN_HISTORY_DAYS} "
            "(weekly pattern and trend cannot be learnt from less)"
        )
    df["y"] = df["y"].astype(float)
    return df


def _check_temperature(history: pd.DataFrame, model: str, source: str) -> None:
    if "temperature_mean_c" not in history.columns:
        raise ForecastInputError(f"{model}: input {source} lacks column temperature_mean_c (the weather regressor)")
    known = int(history["temperature_mean_c"].notna().sum())
    if known < MIN_HISTORY_DAYS:
        raise ForecastInputError(
            f"{model}: input {source} has a temperature on {known} of {len(history)} history days, needs at least "
            f"{MIN_HISTORY_DAYS} to learn the weather effect (is raw_weather loaded? see ingest_weather)"
        )


# --------------------------------------------------------------------------- weather features
def _harmonics(days: pd.Series) -> np.ndarray:
    doy = pd.DatetimeIndex(days).dayofyear.to_numpy()
    angle = 2 * np.pi * doy / 365.25
    return np.column_stack([np.ones(len(doy)), np.cos(angle), np.sin(angle), np.cos(2 * angle), np.sin(2 * angle)])


def fit_climatology(days: pd.Series, temperature: pd.Series) -> Callable[[pd.Series], np.ndarray]:
    """The seasonal normal temperature as a function of the day, fitted on observed days."""
    known = temperature.notna().to_numpy()
    beta, *_ = np.linalg.lstsq(_harmonics(days[known]), temperature[known].to_numpy(dtype=float), rcond=None)
    return lambda d: _harmonics(pd.Series(d)) @ beta


def forecast_skill(runs: pd.DataFrame, observed: pd.Series, normal: Callable[[pd.Series], np.ndarray]) -> pd.DataFrame:
    """Per lead day: slope and residual spread of the observed anomaly on the forecast anomaly.

    `runs`: run_date, ds, lead_days, temperature_mean_c (forecasts issued before the origin);
    `observed`: observed temperature indexed by day. Leads with too few pairs are left out.
    """
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=["lead_days", "slope", "spread", "pairs"])
    pairs = (
        runs.assign(ds=pd.to_datetime(runs["ds"]))
        .join(observed.rename("observed"), on="ds")
        .dropna(subset=["observed", "temperature_mean_c"])
    )
    if pairs.empty:
        return pd.DataFrame(columns=["lead_days", "slope", "spread", "pairs"])
    clim = normal(pairs["ds"])
    pairs = pairs.assign(fa=pairs["temperature_mean_c"].to_numpy() - clim, oa=pairs["observed"].to_numpy() - clim)
    rows = []
    for lead, g in pairs.groupby("lead_days"):
        if len(g) < MIN_SKILL_PAIRS:
            continue
        slope = float((g["fa"] * g["oa"]).sum() / max((g["fa"] ** 2).sum(), 1e-9))
        spread = float(np.std(g["oa"] - slope * g["fa"]))
        rows.append((int(lead), slope, spread, len(g)))
    return pd.DataFrame(rows, columns=["lead_days", "slope", "spread", "pairs"])


def _expected_excess(mu: np.ndarray, sd: np.ndarray, k: float) -> np.ndarray:
    """E[max(X - k, 0)] for X ~ N(mu, sd²); sd = 0 gives max(mu - k, 0)."""
    from scipy.stats import norm

    mu, sd = np.asarray(mu, float), np.asarray(sd, float)
    safe = np.maximum(sd, 1e-9)
    z = (mu - k) / safe
    value = (mu - k) * norm.cdf(z) + safe * norm.pdf(z)
    return np.where(sd > 0, value, np.maximum(mu - k, 0.0))


def expected_ramp(mu: np.ndarray, sd: np.ndarray, low: float = RAMP_C[0], high: float = RAMP_C[1]) -> np.ndarray:
    """E[ramp(X)] for X ~ N(mu, sd²), ramp going 0 -> 1 between `low` and `high`."""
    return (_expected_excess(mu, sd, low) - _expected_excess(mu, sd, high)) / (high - low)


def weather_regressors(
    days: pd.Series,
    anomaly_mean: np.ndarray,
    anomaly_sd: np.ndarray,
    normal: Callable[[pd.Series], np.ndarray],
) -> pd.DataFrame:
    """`cold` and `heat` ramps (expected under the anomaly's uncertainty), each in its own season."""
    heating = normal(days) < HEATING_NORMAL_BELOW_C
    cold = expected_ramp(-np.asarray(anomaly_mean), anomaly_sd)
    heat = expected_ramp(np.asarray(anomaly_mean), anomaly_sd)
    return pd.DataFrame({"cold": np.where(heating, cold, 0.0), "heat": np.where(heating, 0.0, heat)})


def future_anomalies(
    future: pd.DataFrame, skill: pd.DataFrame, normal: Callable[[pd.Series], np.ndarray], climate_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of each future day's true anomaly given its forecast (or none)."""
    days = pd.to_datetime(future["ds"])
    temp = (
        future["temperature_mean_c"].to_numpy(dtype=float)
        if "temperature_mean_c" in future
        else np.full(len(future), np.nan)
    )
    lead = future["lead_days"].to_numpy(dtype=float) if "lead_days" in future else np.full(len(future), np.nan)
    by_lead = skill.set_index("lead_days") if len(skill) else pd.DataFrame(columns=["slope", "spread"])
    mean = np.zeros(len(future))
    sd = np.full(len(future), climate_sd)
    forecast_anomaly = temp - normal(days)
    for i in range(len(future)):
        if np.isnan(temp[i]) or np.isnan(lead[i]) or int(lead[i]) not in by_lead.index:
            continue  # no usable forecast: the climatological distribution
        row = by_lead.loc[int(lead[i])]
        mean[i] = float(row["slope"]) * forecast_anomaly[i]
        sd[i] = float(row["spread"])
    return mean, sd


# --------------------------------------------------------------------------- the model
INTERVAL_SAMPLING_SEED = 20250301


def _fit_predict(
    history: pd.DataFrame, future: pd.DataFrame, interval_width: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    model = Prophet(
        interval_width=interval_width,
        weekly_seasonality=True,
        yearly_seasonality=len(history) >= YEARLY_SEASONALITY_MIN_DAYS,
        daily_seasonality=False,
        seasonality_mode="additive",  # on log(1 + calls): the effects multiply
    )
    model.add_country_holidays(country_name="FR")
    model.add_regressor("cold")
    model.add_regressor("heat")
    train = history[["ds", "cold", "heat"]].assign(y=np.log1p(history["y"].to_numpy()))
    model.fit(train)
    # Prophet draws the interval's trend paths from numpy's global generator: seeded, a re-run of
    # the same day gives the same interval (and the same coverage_95), as the idempotence check requires.
    saved = np.random.get_state()
    np.random.seed(INTERVAL_SAMPLING_SEED)
    try:
        fc = model.predict(future[["ds", "cold", "heat"]])
    finally:
        np.random.set_state(saved)
    from prophet.utilities import regressor_coefficients

    # The effect of a full ramp (0 -> 1), in log units: log(1.4) = 0.34 is a 40% rise.
    coefficients = regressor_coefficients(model).set_index("regressor")["coef"]
    effect = {name: round(float(coefficients[name]), 4) for name in ("cold", "heat")}
    return fc[["ds", "yhat", "yhat_lower", "yhat_upper"]], effect


def _origin_frames(
    history: pd.DataFrame, future: pd.DataFrame, runs: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and future with their weather regressors, from what the origin knew."""
    normal = fit_climatology(history["ds"], history["temperature_mean_c"])
    observed = history.set_index("ds")["temperature_mean_c"]
    anomaly = observed.to_numpy(dtype=float) - normal(history["ds"])
    climate_sd = float(np.nanstd(anomaly))
    known_runs = None
    if runs is not None and len(runs):
        known_runs = runs[pd.to_datetime(runs["ds"]) <= history["ds"].max()]
    skill = forecast_skill(known_runs, observed, normal)
    # A history day without a temperature gets the climatological expectation, as a far future day does.
    hist_sd = np.where(np.isnan(anomaly), climate_sd, 0.0)
    hist = pd.concat(
        [history.reset_index(drop=True), weather_regressors(history["ds"], np.nan_to_num(anomaly), hist_sd, normal)],
        axis=1,
    )
    mean, sd = future_anomalies(future, skill, normal, climate_sd)
    fut = pd.concat([future.reset_index(drop=True), weather_regressors(future["ds"], mean, sd, normal)], axis=1)
    fut["ds"] = pd.to_datetime(fut["ds"])
    return hist, fut


def _point_and_interval(fc: pd.DataFrame, spread: CallSpread | None, width: float) -> pd.DataFrame:
    """Back from log space: the point forecast is the median; the interval from the calibrated
    spread, or Prophet's own when there was nothing to calibrate on."""
    out = pd.DataFrame({"ds": fc["ds"].to_numpy()})
    out["yhat"] = np.expm1(fc["yhat"].to_numpy())
    if spread is None:
        out["yhat_lower"] = np.expm1(fc["yhat_lower"].to_numpy())
        out["yhat_upper"] = np.expm1(fc["yhat_upper"].to_numpy())
    else:
        out["yhat_lower"], out["yhat_upper"] = spread.bounds(np.maximum(out["yhat"].to_numpy(), 0), width)
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        out[col] = out[col].clip(lower=0)  # a call count is never negative
    out["yhat_lower"] = np.minimum(out["yhat_lower"], out["yhat"])
    out["yhat_upper"] = np.maximum(out["yhat_upper"], out["yhat"])
    return out


def future_days(history: pd.DataFrame, horizon: int = HORIZON_DAYS) -> pd.DataFrame:
    """The `horizon` days after the history, with no weather known."""
    start = pd.to_datetime(history["ds"]).max() + pd.Timedelta(days=1)
    return pd.DataFrame({"ds": pd.date_range(start, periods=horizon, freq="D")})


def origin_inputs(
    daily: pd.DataFrame, runs: pd.DataFrame | None, origin: pd.Timestamp, horizon: int = HORIZON_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a forecast made at the end of `origin` could know: the history up to it (observed
    temperatures) and the next `horizon` days with the temperature forecast issued that day."""
    origin = pd.Timestamp(origin)
    days = daily.assign(ds=pd.to_datetime(daily["ds"]))
    history = days[days["ds"] <= origin].drop(columns=[c for c in ("is_future",) if c in days.columns])
    future = future_days(history, horizon)
    if runs is not None and len(runs):
        issued = runs[pd.to_datetime(runs["run_date"]) == origin].assign(ds=lambda r: pd.to_datetime(r["ds"]))
        future = future.merge(issued[["ds", "lead_days", "temperature_mean_c"]], on="ds", how="left")
    return history.reset_index(drop=True), future


def forecast_calls(
    history: pd.DataFrame,
    future: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
    horizon: int = HORIZON_DAYS,
    interval_width: float = 0.95,
    calibrate: bool = True,
) -> CallForecast:
    """Forecast the days of `future` (default: the `horizon` days after the history).

    history: ds, y, temperature_mean_c (observed, or the freshest forecast for the last days);
    future: ds and, where the weather forecast reaches, temperature_mean_c and lead_days;
    runs: past forecast runs (run_date, ds, lead_days, temperature_mean_c) to learn the
    forecast's skill from.
    """
    hist = prepare_history(history)
    _check_temperature(hist, MODEL_NAME, INPUT_NAME)
    fut = future_days(hist, horizon) if future is None else future.copy()
    if len(fut) == 0:
        raise ForecastInputError(f"{MODEL_NAME}: no future day to forecast after {hist['ds'].max():%Y-%m-%d}")
    spread, calibration = None, None
    if calibrate:
        spread, calibration = calibrate_interval(hist, runs, interval_width)
    h, f = _origin_frames(hist, fut, runs)
    fc, effect = _fit_predict(h, f, interval_width)
    out = _point_and_interval(fc, spread, interval_width)
    out["temperature_mean_c"] = f["temperature_mean_c"].to_numpy() if "temperature_mean_c" in f else np.nan
    out["lead_days"] = f["lead_days"].to_numpy() if "lead_days" in f else np.nan
    return CallForecast(out, spread, calibration, effect)


def calibrate_interval(
    history: pd.DataFrame, runs: pd.DataFrame | None, interval_width: float = 0.95
) -> tuple[CallSpread | None, ForecastMetrics | None]:
    """The spread of actual calls around 30-day forecasts made at origin - 30 and - 60 days, each
    from what was known then; and those backtests' metrics (with Prophet's own interval)."""
    actual_all, fc_all = [], []
    last = history["ds"].max()
    for days_back in CALIBRATION_ORIGINS:
        origin = last - pd.Timedelta(days=days_back)
        inner_hist, inner_future = origin_inputs(history, runs, origin, 30)
        inner_future = inner_future[inner_future["ds"] <= last]
        if inner_hist["y"].notna().sum() < MIN_HISTORY_DAYS or len(inner_future) == 0:
            continue
        h, f = _origin_frames(inner_hist, inner_future, runs)
        fc, _ = _fit_predict(h, f, interval_width)
        actual = history.set_index("ds")["y"].reindex(fc["ds"]).to_numpy()
        ok = ~np.isnan(actual)
        actual_all.append(actual[ok])
        fc_all.append(_point_and_interval(fc, None, interval_width)[ok])
    if not fc_all:
        return None, None
    actual = np.concatenate(actual_all)
    forecast = pd.concat(fc_all, ignore_index=True)
    return fit_spread(forecast["yhat"].to_numpy(), actual), score(pd.Series(actual), forecast)


# --------------------------------------------------------------------------- baselines
def seasonal_naive(history: pd.DataFrame, horizon: int = HORIZON_DAYS) -> pd.DataFrame:
    """Same weekday last week, repeated; no interval."""
    last_week = prepare_history(history, "seasonal_naive")["y"].to_numpy(dtype=float)[-7:]
    yhat = np.resize(last_week, horizon)
    return pd.DataFrame({"yhat": yhat, "yhat_lower": yhat, "yhat_upper": yhat})


def arima(history: pd.DataFrame, horizon: int = HORIZON_DAYS, order=(5, 1, 0)) -> pd.DataFrame:
    """The specification's sketch: ARIMA(5,1,0) on the daily counts."""
    from statsmodels.tsa.arima.model import ARIMA

    y = prepare_history(history, f"arima{order}")["y"].to_numpy(dtype=float)
    pred = ARIMA(y, order=order).fit().get_forecast(horizon)
    ci = np.asarray(pred.conf_int(alpha=0.05))
    return pd.DataFrame(
        {
            "yhat": np.clip(pred.predicted_mean, 0, None),
            "yhat_lower": np.clip(ci[:, 0], 0, None),
            "yhat_upper": ci[:, 1],
        }
    )


def sarima(history: pd.DataFrame, horizon: int = HORIZON_DAYS) -> pd.DataFrame:
    """SARIMA(1,0,1)(1,1,1)7 on log(1 + calls): the weekly cycle a plain ARIMA cannot see."""
    import warnings

    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.log1p(prepare_history(history, "sarima")["y"].to_numpy(dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = SARIMAX(y, order=(1, 0, 1), seasonal_order=(1, 1, 1, 7)).fit(disp=False)
    pred = fit.get_forecast(horizon)
    ci = np.asarray(pred.conf_int(alpha=0.05))
    return pd.DataFrame(
        {"yhat": np.expm1(pred.predicted_mean), "yhat_lower": np.expm1(ci[:, 0]), "yhat_upper": np.expm1(ci[:, 1])}
    ).clip(lower=0)
