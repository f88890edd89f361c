"""Weather ingestion against the Open-Meteo simulator (served in-process) and the real warehouse:
backfill then incremental, idempotent re-runs, the archive cut into requests, the quota's 429
without Retry-After, server errors, the customer key, unloadable days in quarantine, and a load
that finds nothing failing loudly."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cs_analytics.config import IngestSettings, WeatherSettings
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy, SourceAuthError, SourceRequestError
from cs_analytics.ingestion.weather import (
    OpenMeteoClient,
    OpenMeteoSession,
    WeatherLoadEmpty,
    load_weather,
)
from simulators import weather_api
from simulators.export.weather import write_weather
from simulators.httpbase import serve_in_thread
from simulators.world.calendar import build_calendar
from simulators.world.config import WorldConfig

pytestmark = pytest.mark.integration

END = date(2026, 1, 20)
PARIS = ZoneInfo("Europe/Paris")
LENIENT = IngestSettings(quarantine_max_rate=1.0)
SMALL = WeatherSettings(backfill_days=40, forecast_backfill_days=6)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """The weather store of a one-year world (the calendar is all it needs)."""
    config = WorldConfig(end_date=END, seed=5, scale=0.3, years=1)
    path = tmp_path_factory.mktemp("weather") / "weather.sqlite"
    write_weather(config, build_calendar(config), path)
    return path


@pytest.fixture
def server(store: Path, request) -> Iterator[tuple[weather_api.WeatherServer, str]]:
    limits = getattr(request, "param", {})
    srv = weather_api.make_server(store_path=store, **limits)
    with serve_in_thread(srv) as url:
        yield srv, url


def client(url: str, srv, settings: WeatherSettings = SMALL, sleeps: list | None = None, key: str | None = None):
    def fake_sleep(seconds: float) -> None:  # waiting moves the simulator's clock instead
        srv.clock_skew += seconds
        if sleeps is not None:
            sleeps.append(seconds)

    def session() -> ApiSession:
        return OpenMeteoSession("weather_api", url, None, 5.0, RetryPolicy(max_retries=3, sleep=fake_sleep))

    return OpenMeteoClient(session(), session(), settings, api_key=key)


def ctx(kind: str, day: date, run: str = "r1") -> BatchContext:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), PARIS).astimezone(UTC)
    return BatchContext("weather", kind, "ingest_weather", run, end - timedelta(days=1), end)


def state(warehouse, table: str) -> tuple:
    return warehouse.query(
        f"select count(*), md5(string_agg(_record_hash || _batch_id, ',' order by payload::text)) from {table}"
    )[0]


def test_backfill_then_daily_runs_and_idempotent_reruns(warehouse, server):
    srv, url = server
    c = client(url, srv)
    first_day = END - timedelta(days=2)
    observed = load_weather(warehouse, c, "observed", ctx("observed", first_day), SMALL, LENIENT)
    forecast = load_weather(warehouse, c, "forecast", ctx("forecast", first_day), SMALL, LENIENT)
    assert (observed.rows_read, observed.rows_inserted) == (40, 40)
    assert (forecast.detail["runs"], forecast.rows_inserted) == (6, 6 * 16)

    # The next days: the archive's last week again plus the new day, and one new run each. The
    # service's archive ends at END and its newest day is not published yet: skipped, not lost.
    o2 = load_weather(warehouse, c, "observed", ctx("observed", END - timedelta(days=1), "r2"), SMALL, LENIENT)
    assert (o2.rows_read, o2.rows_inserted, o2.rows_unchanged) == (9, 1, 8)
    o3 = load_weather(warehouse, c, "observed", ctx("observed", END, "r3"), SMALL, LENIENT)
    assert (o3.rows_read, o3.rows_inserted, o3.detail["not_yet_published"]) == (9, 0, [END.isoformat()])
    for day, run in ((END - timedelta(days=1), "r2"), (END, "r3")):
        f = load_weather(warehouse, c, "forecast", ctx("forecast", day, run), SMALL, LENIENT)
        assert (f.detail["runs"], f.rows_inserted) == (1, 16)
    rows = warehouse.query(
        "select min(lead_days), max(lead_days), count(distinct run_date), max(run_date) "
        "from raw_weather.daily_forecasts"
    )
    assert rows == [(0, 15, 8, END)]

    # Re-running every interval changes nothing, not even the lineage.
    before = (state(warehouse, "raw_weather.daily_observations"), state(warehouse, "raw_weather.daily_forecasts"))
    for day, run in ((first_day, "r1"), (END - timedelta(days=1), "r2"), (END, "r3")):
        for kind in ("observed", "forecast"):
            again = load_weather(warehouse, c, kind, ctx(kind, day, run), SMALL, LENIENT)
            assert again.rows_inserted == again.rows_updated == 0
    after = (state(warehouse, "raw_weather.daily_observations"), state(warehouse, "raw_weather.daily_forecasts"))
    assert after == before
    marks = dict(warehouse.query("select object, watermark from meta.watermarks where source = 'weather'"))
    paris = {k: v.astimezone(PARIS).date() for k, v in marks.items()}
    assert paris == {"observed": END - timedelta(days=1), "forecast": END}


def test_forecast_rows_are_what_each_run_said_and_errors_grow_with_lead(warehouse, server):
    srv, url = server
    settings = WeatherSettings(backfill_days=200, forecast_backfill_days=150)
    c = client(url, srv, settings)
    load_weather(warehouse, c, "observed", ctx("observed", END), settings, LENIENT)
    load_weather(warehouse, c, "forecast", ctx("forecast", END), settings, LENIENT)
    errors = dict(
        warehouse.query(
            "select f.lead_days, sqrt(avg(power(f.temperature_mean_c - o.temperature_mean_c, 2))) "
            "from raw_weather.daily_forecasts f join raw_weather.daily_observations o using (weather_date) "
            "group by 1 order by 1"
        )
    )
    assert errors[0] < 1.0 < errors[1] < errors[7] < errors[14]
    lineage = warehouse.query(
        "select _source, payload->'daily_units'->>'temperature_2m_mean' from raw_weather.daily_forecasts "
        "where run_date = %s and lead_days = 3",
        (END - timedelta(days=10),),
    )
    assert lineage == [(f"/v1/forecast?run={END - timedelta(days=10)}T00:00#{END - timedelta(days=7)}", "°C")]


def test_a_long_archive_window_is_cut_into_yearly_requests(warehouse, server):
    srv, url = server
    settings = WeatherSettings(backfill_days=500, forecast_backfill_days=1)
    srv.stats.reset()
    result = load_weather(warehouse, client(url, srv, settings), "observed", ctx("observed", END), settings, LENIENT)
    assert srv.stats.snapshot()["requests"] == 2  # 366 + 134 days
    assert result.rows_read == 500 and result.rows_inserted == 499
    days = warehouse.query("select count(*), count(distinct weather_date) from raw_weather.daily_observations")
    assert days == [(499, 499)]


@pytest.mark.parametrize("server", [{"calls_per_minute": 3}], indirect=True)
def test_minute_quota_is_waited_out_without_retry_after(warehouse, server):
    srv, url = server
    sleeps: list[float] = []
    settings = WeatherSettings(forecast_backfill_days=8)
    result = load_weather(
        warehouse, client(url, srv, settings, sleeps), "forecast", ctx("forecast", END), settings, LENIENT
    )
    assert result.rows_inserted == 8 * 16
    assert sleeps and set(sleeps) == {61.0}  # the next minute window, since no Retry-After came
    assert srv.stats.snapshot()["rate_limited"] == len(sleeps)


@pytest.mark.parametrize("server", [{"calls_per_day": 2}], indirect=True)
def test_daily_quota_fails_at_once_with_the_reason_and_loads_nothing(warehouse, server):
    srv, url = server
    settings = WeatherSettings(forecast_backfill_days=5)
    with pytest.raises(SourceRequestError, match="Daily API request limit exceeded"):
        load_weather(warehouse, client(url, srv, settings), "forecast", ctx("forecast", END), settings, LENIENT)
    assert warehouse.query("select count(*) from raw_weather.daily_forecasts") == [(0,)]


def test_server_errors_are_retried(warehouse, server):
    srv, url = server
    srv.faults.update({"fail_next": 2, "error_status": 502})
    result = load_weather(warehouse, client(url, srv), "observed", ctx("observed", END), SMALL, LENIENT)
    assert result.rows_inserted == 39 and srv.stats.snapshot()["server_errors"] == 2


def test_customer_key_missing_fails_naming_the_connection(warehouse, store):
    srv = weather_api.make_server(store_path=store, api_key="om-key")
    with serve_in_thread(srv) as url:
        with pytest.raises(SourceAuthError, match="weather_api"):
            load_weather(warehouse, client(url, srv), "observed", ctx("observed", END), SMALL, LENIENT)
        ok = load_weather(warehouse, client(url, srv, key="om-key"), "observed", ctx("observed", END), SMALL, LENIENT)
        assert ok.rows_inserted == 39


def test_unloadable_days_go_to_quarantine_with_the_reason(warehouse, tmp_path, store):
    bad = tmp_path / "weather.sqlite"
    bad.write_bytes(store.read_bytes())
    day_hot, day_text = END - timedelta(days=5), END - timedelta(days=6)
    with sqlite3.connect(bad) as conn:
        conn.execute("update observed set max_c = min_c - 4 where date = ?", (day_hot.isoformat(),))
        conn.execute("update observed set mean_c = 'n/a' where date = ?", (day_text.isoformat(),))
    srv = weather_api.make_server(store_path=bad)
    with serve_in_thread(srv) as url:
        result = load_weather(warehouse, client(url, srv), "observed", ctx("observed", END), SMALL, LENIENT)
    assert (result.rows_inserted, result.rows_quarantined) == (37, 2)
    reasons = dict(warehouse.query("select location, reason from meta.quarantine where source = 'weather'"))
    assert "inconsistent temperatures" in reasons[f"/v1/archive#{day_hot}"]
    assert "temperature_2m_mean is not a number: 'n/a'" in reasons[f"/v1/archive#{day_text}"]

    # Fixed at the source: the next load takes the days and resolves their quarantine entries.
    srv = weather_api.make_server(store_path=store)
    with serve_in_thread(srv) as url:
        load_weather(warehouse, client(url, srv), "observed", ctx("observed", END, "r2"), SMALL, LENIENT)
    assert warehouse.query("select count(*) from meta.quarantine where resolved_at is null") == [(0,)]


def test_an_archive_with_nothing_recent_fails_and_keeps_the_watermark(warehouse, server):
    srv, url = server
    c = client(url, srv)
    load_weather(warehouse, c, "observed", ctx("observed", END), SMALL, LENIENT)
    mark = warehouse.query("select watermark from meta.watermarks where object = 'observed'")
    # A run for a day the archive cannot have yet (its newest published day is END - 1).
    strict = WeatherSettings(backfill_days=40, archive_max_delay_days=0)
    with pytest.raises(WeatherLoadEmpty, match="no observed day after"):
        load_weather(warehouse, client(url, srv, strict), "observed", ctx("observed", END, "r2"), strict, LENIENT)
    assert warehouse.query("select watermark from meta.watermarks where object = 'observed'") == mark


def test_a_backfill_older_than_the_runs_archive_loads_what_exists(warehouse, tmp_path, store):
    # The single-runs archive starts 4 days before END here: asking 8 days back gets Open-Meteo's
    # "out of allowed range" for the first runs, which do not exist anywhere.
    short = tmp_path / "weather.sqlite"
    short.write_bytes(store.read_bytes())
    with sqlite3.connect(short) as conn:
        conn.execute("update meta set value = ? where key = 'first_run_date'", ((END - timedelta(days=3)).isoformat(),))
    settings = WeatherSettings(forecast_backfill_days=8)
    srv = weather_api.make_server(store_path=short)
    with serve_in_thread(srv) as url:
        result = load_weather(
            warehouse, client(url, srv, settings), "forecast", ctx("forecast", END), settings, LENIENT
        )
    assert result.detail["runs"] == 4 and result.rows_inserted == 4 * 16
    assert result.detail["runs_before_the_archive"] == f"{END - timedelta(days=7)}..{END - timedelta(days=4)}"
