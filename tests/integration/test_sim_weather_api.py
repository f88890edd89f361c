"""The Open-Meteo simulator, served in-process: its JSON shape, the archive's end and delay, the
forecast's horizon and skill, single runs, Open-Meteo's error wording, the customer key and the
weighted quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from simulators import weather_api
from simulators.export.weather import write_weather
from simulators.httpbase import serve_in_thread
from simulators.world.calendar import build_calendar
from simulators.world.config import WorldConfig
from simulators.world.weather import forecast_run, observed_weather

END = date(2026, 2, 10)
TODAY = END + timedelta(days=1)  # the service's "today": the sources are read at its midnight
CONFIG = WorldConfig(end_date=END, seed=9, scale=0.3, years=1)
DAILY = "temperature_2m_mean,temperature_2m_max,temperature_2m_min,precipitation_sum"
LYON = {"latitude": 45.76, "longitude": 4.85, "timezone": "Europe/Paris", "daily": DAILY}


@pytest.fixture(scope="module")
def calendar() -> pd.DataFrame:
    return build_calendar(CONFIG)


@pytest.fixture(scope="module")
def store(tmp_path_factory, calendar) -> Path:
    path = tmp_path_factory.mktemp("weather_sim") / "weather.sqlite"
    write_weather(CONFIG, calendar, path)
    return path


@pytest.fixture
def api(store: Path, request) -> Iterator[tuple[weather_api.WeatherServer, str]]:
    srv = weather_api.make_server(store_path=store, **getattr(request, "param", {}))
    with serve_in_thread(srv) as url:
        yield srv, url


def get(url: str, path: str, **params) -> requests.Response:
    return requests.get(f"{url}{path}", params={**LYON, **params}, timeout=10)


def test_archive_has_open_meteo_shape_and_the_world_temperature(api, calendar):
    _, url = api
    body = get(url, "/v1/archive", start_date="2026-01-01", end_date="2026-01-31").json()
    assert list(body) == [
        "latitude", "longitude", "generationtime_ms", "utc_offset_seconds", "timezone",
        "timezone_abbreviation", "elevation", "daily_units", "daily",
    ]  # fmt: skip
    assert (body["timezone"], body["utc_offset_seconds"], body["timezone_abbreviation"]) == (
        "Europe/Paris",
        3600,
        "CET",
    )
    assert body["daily_units"] == {
        "time": "iso8601", "temperature_2m_mean": "°C", "temperature_2m_max": "°C",
        "temperature_2m_min": "°C", "precipitation_sum": "mm",
    }  # fmt: skip
    daily = body["daily"]
    assert daily["time"][0] == "2026-01-01" and len(daily["time"]) == 31
    planted = calendar.set_index(pd.to_datetime(calendar["date"]))["temperature_c"]
    assert daily["temperature_2m_mean"] == list(planted.loc["2026-01-01":"2026-01-31"].to_numpy())
    assert all(
        lo <= m <= hi
        for lo, m, hi in zip(
            daily["temperature_2m_min"], daily["temperature_2m_mean"], daily["temperature_2m_max"], strict=True
        )
    )


def test_archive_ends_yesterday_and_its_newest_day_is_not_published(api):
    _, url = api
    body = get(url, "/v1/archive", start_date=str(END - timedelta(days=2)), end_date=str(END)).json()
    assert body["daily"]["temperature_2m_mean"][:2] != [None, None] and body["daily"]["temperature_2m_mean"][2] is None
    late = get(url, "/v1/archive", start_date=str(END), end_date=str(TODAY))
    assert late.status_code == 400 and late.json() == {
        "error": True,
        "reason": f"Parameter 'end_date' is out of allowed range from 1940-01-01 to {END}",
    }
    # Days before the simulated world are served too (the real archive starts in 1940).
    old = get(url, "/v1/archive", start_date="1990-07-01", end_date="1990-07-03").json()["daily"]
    assert len(old["time"]) == 3 and all(10 < t < 35 for t in old["temperature_2m_mean"])


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/v1/forecast", {"forecast_days": 17}, "Forecast days is invalid. Allowed range 0 to 16. Given 17."),
        ("/v1/forecast", {"past_days": 93}, "Past days is invalid. Allowed range 0 to 92. Given 93."),
        ("/v1/archive", {"start_date": "2026-01-01"}, "Both 'start_date' and 'end_date' must be set in the url"),
        ("/v1/archive", {"start_date": "2026-01-05", "end_date": "2026-01-01"}, "End-date must be larger or equals than start-date"),
        ("/v1/archive", {"start_date": "2026-01-01", "end_date": "2026-01-02", "daily": "tempeture_2m_max"},
         "Cannot initialize ForecastVariableDaily from invalid String value tempeture_2m_max for key daily"),
        ("/v1/archive", {"start_date": "2026-01-01", "end_date": "2026-01-02", "timezone": ""}, "Timezone is required"),
        ("/v1/archive", {"start_date": "2026-01-01", "end_date": "2026-01-02", "timezone": "Mars/Olympus"}, "Invalid timezone"),
        ("/v1/forecast", {"latitude": 91}, "Latitude must be in range of -90 to 90°. Given: 91.0."),
        ("/v1/forecast", {"start_date": str(TODAY), "end_date": str(TODAY), "past_days": 1},
         "Parameter 'past_days' is mutually exclusive with 'start_date' and 'end_date'"),
        ("/v1/forecast", {"run": "2020-01-01T00:00"}, f"Parameter 'run' is out of allowed range from {CONFIG.start_date} to {END}"),
    ],
)  # fmt: skip
def test_bad_requests_get_open_meteo_error_objects(api, path, params, reason):
    _, url = api
    resp = get(url, path, **params)
    assert resp.status_code == 400 and resp.json() == {"error": True, "reason": reason}


def test_live_forecast_starts_today_and_past_days_come_from_the_archive(api, store):
    _, url = api
    body = get(url, "/v1/forecast", forecast_days=16, past_days=2).json()["daily"]
    assert body["time"][0] == str(TODAY - timedelta(days=2)) and body["time"][-1] == str(TODAY + timedelta(days=15))
    archive = get(url, "/v1/archive", start_date=str(TODAY - timedelta(days=2)), end_date=str(END)).json()["daily"]
    assert body["temperature_2m_mean"][0] == archive["temperature_2m_mean"][0]
    assert len(get(url, "/v1/forecast").json()["daily"]["time"]) == 7  # the default horizon


def test_single_runs_are_fixed_and_their_error_grows_with_lead(api, calendar):
    _, url = api
    one = get(url, "/v1/forecast", run=f"{END - timedelta(days=20)}T00:00", forecast_days=16).json()["daily"]
    again = get(url, "/v1/forecast", run=f"{END - timedelta(days=20)}T00:00", forecast_days=16).json()["daily"]
    assert one == again and one["time"][0] == str(END - timedelta(days=20)) and len(one["time"]) == 16
    # Over a year of runs, the daily-mean error grows with lead time (RMSE in °C).
    observed = observed_weather(calendar, CONFIG.seed)
    truth = observed.set_index("date")["mean_c"]
    errors = np.zeros((300, 16))
    for i in range(300):
        run = forecast_run(observed, CONFIG.seed, END - timedelta(days=20 + i))
        errors[i] = run["mean_c"].to_numpy() - truth.loc[run["date"]].to_numpy()
    rmse = np.sqrt((errors**2).mean(axis=0))
    assert rmse[0] < 0.8 and 1.0 < rmse[1] < 1.8 and 2.2 < rmse[7] < 3.2 and rmse[15] > 3.0
    assert all(np.diff(rmse[1:]) > -0.15)


def test_a_cold_wave_is_forecast_a_few_days_ahead(api, calendar):
    waves = calendar[
        (calendar["weather_event"] == "cold_wave")
        & (pd.to_datetime(calendar["date"]) < pd.Timestamp(END))
        & (pd.to_datetime(calendar["date"]) > pd.Timestamp(CONFIG.start_date + timedelta(days=14)))
    ]
    day = pd.Timestamp(waves["date"].iloc[0]).date()
    _, url = api
    runs = {
        h: get(url, "/v1/forecast", run=f"{day - timedelta(days=h)}T00:00", forecast_days=16).json() for h in (1, 14)
    }
    near = dict(zip(runs[1]["daily"]["time"], runs[1]["daily"]["temperature_2m_mean"], strict=True))[str(day)]
    far = dict(zip(runs[14]["daily"]["time"], runs[14]["daily"]["temperature_2m_mean"], strict=True))[str(day)]
    normal = 12.8 - 10.0 * np.cos(2 * np.pi * (pd.Timestamp(day).dayofyear - 20) / 365.25)
    assert near < normal - 4 and abs(near - normal) > abs(far - normal) - 1


def test_customer_api_key(store):
    srv = weather_api.make_server(store_path=store, api_key="k-123")
    with serve_in_thread(srv) as url:
        missing = get(url, "/v1/forecast")
        wrong = get(url, "/v1/forecast", apikey="nope")
        ok = get(url, "/v1/forecast", apikey="k-123")
    assert (missing.status_code, missing.json()["reason"]) == (401, "API key required. Please add &apikey= to the URL.")
    assert (wrong.status_code, wrong.json()["reason"]) == (400, "The supplied API key is invalid.")
    assert ok.status_code == 200


@pytest.mark.parametrize("api", [{"calls_per_minute": 10}], indirect=True)
def test_quota_counts_weighted_calls_in_fixed_windows_without_retry_after(api):
    srv, url = api
    # 4 variables over 365 days weigh 0.4 x 365/14 = 10.4 calls: the next request is refused.
    assert get(url, "/v1/archive", start_date="2025-01-01", end_date="2025-12-31").status_code == 200
    refused = get(url, "/v1/forecast")
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.json() == {
        "error": True,
        "reason": "Minutely API request limit exceeded. Please try again in one minute.",
    }
    srv.clock_skew += 60  # the next minute
    assert get(url, "/v1/forecast").status_code == 200
