"""Open-Meteo-shaped weather API over `SIM_DATA_DIR/weather.sqlite`.

    python -m simulators.weather_api --port 8704 [--calls-per-minute 600]

One port plays the three Open-Meteo hosts the pipeline uses:

- `GET /v1/archive` (archive-api.open-meteo.com): observed daily weather, `start_date` and
  `end_date` required;
- `GET /v1/forecast` (api.open-meteo.com): the latest run, `forecast_days` 0-16 (default 7) from
  today, `past_days` 0-92, or `start_date`/`end_date` inside that window;
- `GET /v1/forecast?run=YYYY-MM-DDT00:00` (single-runs-api.open-meteo.com): the whole horizon of
  one past run, for a backfill that must not see later information.

Quirks kept from the real service: errors are HTTP 400 `{"error": true, "reason": "..."}` with
its wording; the free API needs no key (a customer key goes in `&apikey=`); weighted calls
(`max(1, variables/10 x max(1, days/14))`) counted in fixed minute/hour/day windows, over the
limit a 429 with the reason and no Retry-After header; the archive ends yesterday and its last
day is still `null` (reanalysis delay). Contract: simulators/README.md.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from simulators import stores
from simulators.export.weather import connect_weather
from simulators.httpbase import Request, Response, Route, SimServer, json_error, run_cli, serve_in_thread
from simulators.world.weather import FORECAST_DAYS_MAX, forecast_run, weather_for

__all__ = ["WeatherServer", "main", "make_server", "serve_in_thread", "store_today", "weather_store_path"]

DAILY_VARIABLES = {  # name -> (column, unit)
    "temperature_2m_max": ("max_c", "°C"),
    "temperature_2m_min": ("min_c", "°C"),
    "temperature_2m_mean": ("mean_c", "°C"),
    "precipitation_sum": ("precipitation_mm", "mm"),
}
ARCHIVE_FIRST_DAY = date(1940, 1, 1)
ARCHIVE_DELAY_DAYS = 2  # a day's reanalysis is published two days later; until then it is null
PAST_DAYS_MAX = 92
DEFAULT_FORECAST_DAYS = 7
QUOTA_WINDOWS = (("calls_per_minute", 60, "Minutely", "Please try again in one minute."),
                 ("calls_per_hour", 3600, "Hourly", "Please try again in the next hour."),
                 ("calls_per_day", 86400, "Daily", "Please try again tomorrow."))  # fmt: skip


def weather_store_path() -> Path:
    return stores.sim_data_dir() / "weather.sqlite"


def store_today(path: Path) -> date:
    """The service's "today" in a store: the day after the world's end date."""
    with contextlib.closing(connect_weather(path)) as conn:
        return date.fromisoformat(conn.execute("select value from meta where key = 'today'").fetchone()[0])


def _error(reason: str, status: int = 400) -> Exception:
    return json_error(status, {"error": True, "reason": reason})


class WeatherServer(SimServer):
    name = "weather"
    # Open-Meteo's free tier: 600 calls a minute, 5,000 an hour, 10,000 a day (0 switches a limit off).
    fault_defaults = {"calls_per_minute": 600, "calls_per_hour": 5000, "calls_per_day": 10000}

    def __init__(self, host: str, port: int, *, store_path: Path, api_key: str | None = None, **faults: Any):
        self.store_path = store_path
        self.api_key = api_key or None
        self._usage: dict[tuple[str, int], float] = {}
        self._usage_lock = threading.Lock()
        super().__init__(host, port, token=api_key or "", **faults)
        connect_weather(store_path).close()  # an empty store until the generator fills it

    def routes(self) -> list[Route]:
        return [Route("GET", r"/v1/archive", self.archive), Route("GET", r"/v1/forecast", self.forecast)]

    # ------------------------------------------------------------------ Open-Meteo's answers
    def authenticate(self, req: Request) -> Response | None:
        """The free API takes no key; a server started with one plays the customer API (`&apikey=`)."""
        if self.api_key is None:
            return None
        given = req.arg("apikey")
        if not given:
            return Response(401, {"error": True, "reason": "API key required. Please add &apikey= to the URL."})
        if given != self.api_key:
            return Response(400, {"error": True, "reason": "The supplied API key is invalid."})
        return None

    def failure(self, status: int) -> Response:
        return Response(status, {"error": True, "reason": "Internal server error" if status >= 500 else "Bad request"})

    # ------------------------------------------------------------------ weighted fixed-window quotas
    def _windows(self) -> list[tuple[str, int, str, str, int]]:
        now = self.now()
        return [(key, length, label, hint, int(now // length)) for key, length, label, hint in QUOTA_WINDOWS]

    def _check_quota(self) -> None:
        with self._usage_lock:
            for key, _, label, hint, window in self._windows():
                limit = float(self.faults[key])
                if limit > 0 and self._usage.get((key, window), 0.0) >= limit:
                    raise _error(f"{label} API request limit exceeded. {hint}", 429)

    def _count(self, weight: float) -> None:
        with self._usage_lock:
            for key, *_, window in self._windows():
                self._usage[(key, window)] = self._usage.get((key, window), 0.0) + weight
            # forget finished windows
            live = {(key, window) for key, *_, window in self._windows()}
            for stale in [k for k in self._usage if k not in live]:
                del self._usage[stale]

    # ------------------------------------------------------------------ store
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = connect_weather(self.store_path)
        try:
            yield conn
        finally:
            conn.close()

    def _load(self) -> tuple[dict[str, str], pd.DataFrame]:
        with self._db() as conn:
            meta = {r["key"]: r["value"] for r in conn.execute("select key, value from meta")}
            observed = pd.read_sql_query("select * from observed order by date", conn)
        if not meta:
            raise _error("No data: the simulated weather store is empty (run `python -m simulators generate`)", 503)
        observed["date"] = pd.to_datetime(observed["date"]).dt.date
        return meta, observed

    # ------------------------------------------------------------------ request parsing
    @staticmethod
    def _float(req: Request, key: str, low: float, high: float, label: str) -> float:
        raw = req.arg(key)
        if raw is None or raw == "":
            raise _error(f"Value required for key '{key}'.")
        try:
            value = float(raw)
        except ValueError as exc:
            raise _error(f"Parameter '{key}' must be a floating point number, given '{raw}'.") from exc
        if not low <= value <= high:
            raise _error(f"{label} must be in range of {low:g} to {high:g}°. Given: {value}.")
        return value

    @staticmethod
    def _list(req: Request, key: str) -> list[str]:
        return [v.strip() for raw in req.query.get(key, []) for v in raw.split(",") if v.strip()]

    def _daily(self, req: Request) -> list[str]:
        if self._list(req, "hourly") or self._list(req, "current"):
            # The simulated service only keeps daily values.
            raise _error("Cannot initialize ForecastVariable: only daily variables are served by this simulator")
        daily = self._list(req, "daily")
        for name in daily:
            if name not in DAILY_VARIABLES:
                raise _error(f"Cannot initialize ForecastVariableDaily from invalid String value {name} for key daily")
        return daily

    @staticmethod
    def _timezone(req: Request, daily: list[str]) -> ZoneInfo:
        name = req.arg("timezone")
        if not name:
            if daily:
                raise _error("Timezone is required")
            name = "GMT"
        if name.lower() == "auto":
            name = "Europe/Paris"  # the coordinates' zone: the service area is in France
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _error("Invalid timezone") from exc

    @staticmethod
    def _date(req: Request, key: str) -> date | None:
        raw = req.arg(key)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise _error(f"Invalid date format for '{key}': {raw!r}, expected yyyy-mm-dd") from exc

    @staticmethod
    def _int(req: Request, key: str, default: int, high: int, label: str) -> int:
        raw = req.arg(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise _error(f"{label} is invalid. Allowed range 0 to {high}. Given {raw}.") from exc
        if not 0 <= value <= high:
            raise _error(f"{label} is invalid. Allowed range 0 to {high}. Given {value}.")
        return value

    @staticmethod
    def _range_error(key: str, first: date, last: date) -> Exception:
        return _error(f"Parameter '{key}' is out of allowed range from {first.isoformat()} to {last.isoformat()}")

    def _dates(self, req: Request, first: date, last: date) -> tuple[date, date] | None:
        start, end = self._date(req, "start_date"), self._date(req, "end_date")
        if start is None and end is None:
            return None
        if start is None or end is None:
            raise _error("Both 'start_date' and 'end_date' must be set in the url")
        for key, value in (("start_date", start), ("end_date", end)):
            if not first <= value <= last:
                raise self._range_error(key, first, last)
        if end < start:
            raise _error("End-date must be larger or equals than start-date")
        return start, end

    # ------------------------------------------------------------------ endpoints
    def archive(self, req: Request) -> Response:
        self._check_quota()
        latitude, longitude, daily, zone = self._common(req)
        meta, observed = self._load()
        today = date.fromisoformat(meta["today"])
        window = self._dates(req, ARCHIVE_FIRST_DAY, today - timedelta(days=1))
        if window is None:
            raise _error("Both 'start_date' and 'end_date' must be set in the url")
        rows = weather_for(observed, int(meta["seed"]), *window)
        pending = rows["date"] > today - timedelta(days=ARCHIVE_DELAY_DAYS)
        rows.loc[pending, list(rows.columns.drop("date"))] = None
        return self._answer(req, meta, rows, daily, zone)

    def forecast(self, req: Request) -> Response:
        self._check_quota()
        latitude, longitude, daily, zone = self._common(req)
        meta, observed = self._load()
        seed, today = int(meta["seed"]), date.fromisoformat(meta["today"])
        days = self._int(req, "forecast_days", DEFAULT_FORECAST_DAYS, FORECAST_DAYS_MAX, "Forecast days")
        if run_text := req.arg("run"):
            return self._single_run(req, meta, observed, run_text, days, daily, zone)
        past = self._int(req, "past_days", 0, PAST_DAYS_MAX, "Past days")
        window = self._dates(req, today - timedelta(days=PAST_DAYS_MAX), today + timedelta(days=FORECAST_DAYS_MAX - 1))
        if window is not None and req.arg("past_days") is not None:
            raise _error("Parameter 'past_days' is mutually exclusive with 'start_date' and 'end_date'")
        start, end = window or (today - timedelta(days=past), today + timedelta(days=days - 1))
        latest_run = today - timedelta(days=1)  # the 00:00 UTC run of yesterday, published in the morning
        run = forecast_run(observed, seed, latest_run, days=FORECAST_DAYS_MAX + 1).drop(columns="lead_days")
        seen = weather_for(observed, seed, start, min(end, today - timedelta(days=1))) if start < today else None
        ahead = run[(run["date"] >= max(start, today)) & (run["date"] <= end)]
        rows = pd.concat([f for f in (seen, ahead) if f is not None and len(f)], ignore_index=True)
        return self._answer(req, meta, rows if len(rows) else run.iloc[:0], daily, zone)

    def _single_run(
        self,
        req: Request,
        meta: dict[str, str],
        observed: pd.DataFrame,
        run_text: str,
        days: int,
        daily: list[str],
        zone: ZoneInfo,
    ) -> Response:
        today = date.fromisoformat(meta["today"])
        first, last = date.fromisoformat(meta["first_run_date"]), today - timedelta(days=1)
        try:
            run_at = datetime.fromisoformat(run_text)
        except ValueError as exc:
            raise _error(f"Invalid value for 'run': {run_text!r}, expected yyyy-mm-ddThh:mm") from exc
        if (run_at.hour, run_at.minute) != (0, 0):
            raise _error(f"No model run initialised at {run_text}: runs start at 00:00 UTC")
        if not first <= run_at.date() <= last:
            raise self._range_error("run", first, last)
        run = forecast_run(observed, int(meta["seed"]), run_at.date(), days=days).drop(columns="lead_days")
        return self._answer(req, meta, run, daily, zone)

    def _common(self, req: Request) -> tuple[float, float, list[str], ZoneInfo]:
        latitude = self._float(req, "latitude", -90, 90, "Latitude")
        longitude = self._float(req, "longitude", -180, 180, "Longitude")
        if (req.arg("timeformat") or "iso8601") != "iso8601":
            raise _error(f"Cannot initialize Timeformat from invalid String value {req.arg('timeformat')}")
        daily = self._daily(req)
        return latitude, longitude, daily, self._timezone(req, daily)

    def _answer(
        self, req: Request, meta: dict[str, str], rows: pd.DataFrame, daily: list[str], zone: ZoneInfo
    ) -> Response:
        started = time.perf_counter()
        fahrenheit = req.arg("temperature_unit") == "fahrenheit"
        body: dict[str, Any] = {
            # The centre of the grid cell, not the coordinates asked for (the simulator knows one place).
            "latitude": round(float(meta["latitude"]), 2),
            "longitude": round(float(meta["longitude"]), 2),
        }
        first_day = rows["date"].iloc[0] if len(rows) else date.fromisoformat(meta["today"])
        midnight = datetime.combine(first_day, datetime.min.time(), zone)
        offset = midnight.utcoffset() or timedelta(0)
        units: dict[str, str] = {"time": "iso8601"}
        values: dict[str, list] = {"time": [d.isoformat() for d in rows["date"]]}
        for name in daily:
            column, unit = DAILY_VARIABLES[name]
            series = rows[column].astype(object)
            if fahrenheit and unit == "°C":
                series = series.map(lambda v: round(v * 9 / 5 + 32, 1) if isinstance(v, (int, float)) else v)
                unit = "°F"
            units[name] = unit
            values[name] = [_served(v) for v in series]
        body.update(
            {
                "generationtime_ms": round((time.perf_counter() - started) * 1000, 3),
                "utc_offset_seconds": int(offset.total_seconds()),
                "timezone": str(zone.key),
                "timezone_abbreviation": midnight.tzname() or "GMT",
                "elevation": float(meta["elevation"]),
            }
        )
        if daily:
            body["daily_units"] = units
            body["daily"] = values
        variables = max(len(daily), 1)
        self._count(max(1.0, variables / 10 * max(1.0, len(rows) / 14)))
        return Response(200, body)


def _served(value: Any) -> Any:
    """A stored value as JSON: numbers as numbers, missing as null, anything else as it is stored
    (a test may plant a corrupt value; the real service has sent strings in number columns)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return float(value) if isinstance(value, (int, float)) else value


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_path: str | Path | None = None,
    api_key: str | None = None,
    **limits: Any,
) -> WeatherServer:
    """A weather API server, not yet serving: use `serve_in_thread(server)` or `server.serve_forever()`.

    `api_key` (default WEATHER_SIM_API_KEY, usually unset: the free API) makes it require `&apikey=`;
    `limits` are start-up quota settings, e.g. `calls_per_minute=5`.
    """
    path = Path(store_path) if store_path else weather_store_path()
    return WeatherServer(
        host, port, store_path=path, api_key=api_key or os.environ.get("WEATHER_SIM_API_KEY"), **limits
    )


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="Open-Meteo-like weather API simulator",
        default_port=8704,
        limit_flags={"calls_per_minute": int, "calls_per_hour": int, "calls_per_day": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
