"""Weather the world's service area had, and the forecasts a weather service issued for it.

The calendar plants the daily mean temperature (seasonal normal + an AR(1) anomaly with cold and
heat waves) that drives the call volume. From it this module derives what a weather API serves:

- the *observed* daily weather (mean, max, min temperature at 2 m, precipitation), the mean being
  exactly the calendar's temperature;
- the *forecast* of each model run (one a day, initialised at 00:00 UTC) for the 16 days from its
  run date. Its error grows with lead time: the forecast anomaly keeps a share rho(h) of the true
  anomaly and fills the rest with noise of the same spread, so a forecast is as variable as the
  weather but less right the further it looks (RMSE of the daily mean about 0.5 °C on the run day,
  1.3 °C at one day, 2.7 °C at a week, 3.4 °C at 15 days). A cold wave shows up in the forecasts
  about as far ahead as its size allows, as it does in a real model.

Days outside the world's span (a client may ask for any date since 1940) get the seasonal normal
plus noise drawn from the day itself, so they are deterministic too.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from simulators.world.rng import component_rng

FORECAST_DAYS_MAX = 16  # Open-Meteo: forecast_days 0..16
ANOMALY_SD = 3.0  # stationary spread of the calendar's temperature anomaly
FORECAST_SKILL_AT_RUN = 0.985  # rho(0): the run's analysis of its own day
FORECAST_SKILL_DAYS = 14.0  # rho(h) = rho(0) exp(-h / 14)
FORECAST_NOISE_PHI = 0.75  # forecast errors of neighbouring days of one run are correlated
RAIN_PROBABILITY = 0.32


def seasonal_normal(days: pd.DatetimeIndex) -> np.ndarray:
    """Lyon's normal daily mean temperature (the calendar's climatology)."""
    doy = days.dayofyear.to_numpy()
    return 12.8 - 10.0 * np.cos(2 * np.pi * (doy - 20) / 365.25)


def _diurnal_range(days: pd.DatetimeIndex) -> np.ndarray:
    """About 6 °C between night and day in January, 12 °C in July."""
    return 9.0 - 3.0 * np.cos(2 * np.pi * (days.dayofyear.to_numpy() - 20) / 365.25)


def observed_weather(calendar: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One row per calendar day: date, normal_c, mean_c, max_c, min_c, precipitation_mm."""
    rng = component_rng(seed, "weather")
    days = pd.DatetimeIndex(pd.to_datetime(calendar["date"]))
    mean = calendar["temperature_c"].to_numpy(dtype=float)
    spread = np.clip(_diurnal_range(days) + rng.normal(0.0, 1.5, len(days)), 2.0, None)
    rain = rng.random(len(days)) < RAIN_PROBABILITY
    amount = rng.gamma(0.8, 6.0, len(days))
    normal = seasonal_normal(days)
    return pd.DataFrame(
        {
            "date": days.date,
            "normal_c": np.round(normal, 2),
            "mean_c": np.round(mean, 1),
            "max_c": np.round(mean + 0.55 * spread, 1),
            "min_c": np.round(mean - 0.45 * spread, 1),
            "precipitation_mm": np.where(rain, np.round(amount, 1), 0.0),
        }
    )


def _synthetic_days(seed: int, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Weather for days outside the world: normal + noise drawn from each day alone."""
    rows = []
    normal = seasonal_normal(days)
    spread = _diurnal_range(days)
    for day, norm, rng_spread in zip(days, normal, spread, strict=True):
        rng = component_rng(seed, f"weather-day-{day.date().isoformat()}")
        mean = round(float(norm + rng.normal(0.0, ANOMALY_SD)), 1)
        s = max(2.0, float(rng_spread + rng.normal(0.0, 1.5)))
        rain = rng.random() < RAIN_PROBABILITY
        rows.append(
            (
                day.date(),
                round(float(norm), 2),
                mean,
                round(mean + 0.55 * s, 1),
                round(mean - 0.45 * s, 1),
                round(float(rng.gamma(0.8, 6.0)), 1) if rain else 0.0,
            )
        )
    return pd.DataFrame(rows, columns=["date", "normal_c", "mean_c", "max_c", "min_c", "precipitation_mm"])


def weather_for(observed: pd.DataFrame, seed: int, start: date, end: date) -> pd.DataFrame:
    """Observed weather for every day of [start, end], synthesised where the world has none."""
    wanted = pd.date_range(start, end, freq="D")
    known = observed.set_index(pd.to_datetime(observed["date"]))
    inside = wanted[wanted.isin(known.index)]
    outside = wanted[~wanted.isin(known.index)]
    parts = [known.loc[inside].reset_index(drop=True)]
    if len(outside):
        parts.append(_synthetic_days(seed, outside))
    out = pd.concat(parts, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).dt.date
    return out.sort_values("date").reset_index(drop=True)


def forecast_skill(lead_days: np.ndarray) -> np.ndarray:
    """rho(h): the share of the true anomaly a forecast `h` days ahead still carries."""
    return FORECAST_SKILL_AT_RUN * np.exp(-np.asarray(lead_days, dtype=float) / FORECAST_SKILL_DAYS)


def forecast_run(observed: pd.DataFrame, seed: int, run_date: date, days: int = FORECAST_DAYS_MAX) -> pd.DataFrame:
    """The forecast of the run initialised on `run_date` for `run_date` .. `run_date + days - 1`.

    Columns: date, lead_days, mean_c, max_c, min_c, precipitation_mm. Deterministic per
    (seed, run date): asking for the same run twice gives the same numbers.
    """
    if days <= 0:
        return pd.DataFrame(columns=["date", "lead_days", "mean_c", "max_c", "min_c", "precipitation_mm"])
    truth = weather_for(observed, seed, run_date, run_date + timedelta(days=days - 1))
    lead = np.arange(days)
    rho = forecast_skill(lead)
    rng = component_rng(seed, f"weather-run-{run_date.isoformat()}")
    shocks = rng.normal(0.0, 1.0, days)
    noise = np.empty(days)
    noise[0] = shocks[0]
    for i in range(1, days):
        noise[i] = FORECAST_NOISE_PHI * noise[i - 1] + np.sqrt(1 - FORECAST_NOISE_PHI**2) * shocks[i]
    anomaly = truth["mean_c"].to_numpy() - truth["normal_c"].to_numpy()
    forecast_anomaly = rho * anomaly + np.sqrt(1 - rho**2) * ANOMALY_SD * noise
    mean = truth["normal_c"].to_numpy() + forecast_anomaly
    spread_max = truth["max_c"].to_numpy() - truth["mean_c"].to_numpy()
    spread_min = truth["mean_c"].to_numpy() - truth["min_c"].to_numpy()
    # Rain: the run gets the day right as often as it gets its temperature anomaly right.
    keep = rng.random(days) < rho
    rains = np.where(keep, truth["precipitation_mm"].to_numpy() > 0, rng.random(days) < RAIN_PROBABILITY)
    amount = np.where(keep, truth["precipitation_mm"].to_numpy(), np.round(rng.gamma(0.8, 6.0, days), 1))
    return pd.DataFrame(
        {
            "date": truth["date"],
            "lead_days": lead,
            "mean_c": np.round(mean, 1),
            "max_c": np.round(mean + spread_max, 1),
            "min_c": np.round(mean - spread_min, 1),
            "precipitation_mm": np.where(rains, np.maximum(amount, 0.1), 0.0),
        }
    )
