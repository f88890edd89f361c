"""The day table: French calendar, weather and the expected call volume λ(d).

λ(d) = base × weekday × yearly season × holiday × weather × trend × spike, plus the night
emergency line. Everything downstream (calls, tickets, interventions) reads its daily
intensities from this table.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd

from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

# Monday highest, Saturday low, Sunday near zero (the company line is closed at weekends).
WEEKDAY_CALLS = np.array([1.25, 1.1, 1.05, 1.03, 1.0, 0.4, 0.08])
HOLIDAY_CALLS = 0.06
MEAN_CALLS_PER_DAY = 45.0
NIGHT_LINE_CALLS_PER_NIGHT = 1.1
TREND_PER_YEAR = 0.06
SPIKES_PER_YEAR = 3
WAVE_THRESHOLD_C = 6.0
WAVE_MIN_DAYS = 3
HEATING_MONTHS = (10, 11, 12, 1, 2, 3, 4)
COOLING_MONTHS = (5, 6, 7, 8, 9)
# The night line takes a few planted calls in each occurrence of the repeated autumn hour, so
# readers of the CDR must disambiguate it (README: CTI).
DST_PLANTED_CALLS_PER_OCCURRENCE = 3
DISPERSION_SHAPE = 40.0  # day-level Gamma noise: mild over-dispersion (CV ~ 0.16)


def yearly_season(day_of_year: np.ndarray) -> np.ndarray:
    """Winter heating peak, a July air-conditioning peak and the August lull."""
    angle = 2 * np.pi * (day_of_year - 20) / 365.25
    july = np.exp(-0.5 * ((day_of_year - 198) / 14) ** 2)
    august = np.exp(-0.5 * ((day_of_year - 226) / 9) ** 2)
    return 1 + 0.17 * np.cos(angle) + 0.24 * july - 0.14 * august


def _last_sunday_of_october(year: int) -> date:
    last = date(year, 10, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _temperature(rng: np.random.Generator, dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal normal for Lyon and an AR(1) anomaly with a few planted cold and heat waves."""
    doy = dates.dayofyear.to_numpy()
    normal = 12.8 - 10.0 * np.cos(2 * np.pi * (doy - 20) / 365.25)
    phi, stationary_sd = 0.78, 3.0
    shocks = rng.normal(0.0, stationary_sd * np.sqrt(1 - phi**2), len(dates))
    anomaly = np.empty(len(dates))
    anomaly[0] = rng.normal(0.0, stationary_sd)
    for i in range(1, len(dates)):
        anomaly[i] = phi * anomaly[i - 1] + shocks[i]
    # Planted waves make sure every winter and summer has at least one event of each kind.
    first = dates[0].date()
    for year in range(dates[0].year - 1, dates[-1].year + 1):
        windows = (
            (date(year, 12, 3), 26, -1),
            (date(year + 1, 1, 8), 34, -1),
            (date(year + 1, 6, 22), 45, +1),
        )
        for window_start, window_days, sign in windows:
            wave_start = window_start + timedelta(days=int(rng.integers(0, window_days)))
            length = int(rng.integers(4, 8))
            amplitude = sign * rng.uniform(8.0, 10.5)
            profile = np.concatenate([[0.55], np.ones(length), [0.55]])
            offset = (wave_start - first).days - 1
            for k, weight in enumerate(profile):
                if 0 <= offset + k < len(dates):
                    anomaly[offset + k] += amplitude * weight
    return normal, anomaly


def _wave_events(anomaly: np.ndarray, months: np.ndarray) -> np.ndarray:
    """`cold_wave` / `heat_wave` on days inside runs of >= 3 days at >= 6 °C from normal."""
    events = np.full(len(anomaly), "", dtype=object)
    for sign, name, season_months in ((-1, "cold_wave", HEATING_MONTHS), (1, "heat_wave", COOLING_MONTHS)):
        extreme = sign * anomaly >= WAVE_THRESHOLD_C
        run_start = None
        for i in range(len(anomaly) + 1):
            if i < len(anomaly) and extreme[i]:
                run_start = i if run_start is None else run_start
                continue
            if run_start is not None and i - run_start >= WAVE_MIN_DAYS:
                in_season = np.isin(months[run_start:i], season_months)
                events[run_start:i][in_season] = name
            run_start = None
    return events


def _spike_days(rng: np.random.Generator, dates: pd.DatetimeIndex, is_open: np.ndarray) -> np.ndarray:
    """About three spike days a year on business days, at least a month apart."""
    count = max(1, round(SPIKES_PER_YEAR * len(dates) / 365.25))
    candidates = np.flatnonzero(is_open)
    chosen: list[int] = []
    for candidate in rng.permutation(candidates):
        if all(abs(int(candidate) - c) >= 30 for c in chosen):
            chosen.append(int(candidate))
        if len(chosen) == count:
            break
    spike = np.zeros(len(dates))
    spike[chosen] = rng.uniform(2.0, 2.5, len(chosen))
    return spike


def build_calendar(config: WorldConfig) -> pd.DataFrame:
    """One row per day from the warm-up start to the horizon end."""
    rng = component_rng(config.seed, "calendar")
    dates = pd.date_range(config.warmup_start, config.horizon_end, freq="D")
    weekday = dates.day_of_week.to_numpy()
    months = dates.month.to_numpy()
    french_holidays = holidays.country_holidays("FR", years=range(dates[0].year, dates[-1].year + 1))
    is_holiday = np.array([d in french_holidays for d in dates.date])
    is_open = (weekday < 5) & ~is_holiday

    normal, anomaly = _temperature(rng, dates)
    weather_event = _wave_events(anomaly, months)
    on_wave = weather_event != ""
    weather_factor = np.where(on_wave, np.clip(1.35 + 0.03 * (np.abs(anomaly) - WAVE_THRESHOLD_C), 1.3, 1.5), 1.0)

    season = yearly_season(dates.dayofyear.to_numpy())
    years_from_end = (dates - pd.Timestamp(config.end_date)).days.to_numpy() / 365.25
    trend = 1 + TREND_PER_YEAR * years_from_end
    spike_factor = _spike_days(rng, dates, is_open)
    holiday_factor = np.where(is_holiday, HOLIDAY_CALLS, 1.0)

    day_shape = WEEKDAY_CALLS[weekday] * season * holiday_factor * weather_factor * trend
    heating = 1 + 0.45 * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 20) / 365.25)
    night = NIGHT_LINE_CALLS_PER_NIGHT * config.scale * heating * weather_factor

    history = (dates >= pd.Timestamp(config.start_date)) & (dates <= pd.Timestamp(config.end_date))
    base = (MEAN_CALLS_PER_DAY * config.scale - night[history].mean()) / day_shape[history].mean()
    day_calls = base * day_shape * np.where(spike_factor > 0, spike_factor, 1.0)

    dst_dates = {_last_sunday_of_october(y) for y in range(dates[0].year, dates[-1].year + 1)}
    is_dst_autumn = np.array([d in dst_dates for d in dates.date])
    planted_dst = np.where(is_dst_autumn, 2 * DST_PLANTED_CALLS_PER_OCCURRENCE, 0)

    return pd.DataFrame(
        {
            "date": dates.date,
            "weekday": weekday,
            "month": months,
            "is_holiday": is_holiday,
            "is_open": is_open,
            "season": season,
            "temperature_c": np.round(normal + anomaly, 1),
            "temperature_anomaly_c": anomaly,
            "weather_event": weather_event,
            "weather_factor": weather_factor,
            "trend": trend,
            "is_spike": spike_factor > 0,
            "spike_factor": np.where(spike_factor > 0, spike_factor, 1.0),
            "day_calls_expected": day_calls,
            "night_calls_expected": night,
            "planted_dst_calls": planted_dst,
            "expected_calls": day_calls + night + planted_dst,
            "dispersion": rng.gamma(DISPERSION_SHAPE, 1 / DISPERSION_SHAPE, len(dates)),
            "is_dst_autumn": is_dst_autumn,
        }
    )
