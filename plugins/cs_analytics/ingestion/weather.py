"""Open-Meteo client and the loads of the service area's daily weather into `raw_weather`.

Two objects, one table each:

- `observed`: the archive (`/v1/archive`, archive-api host) — one row per day, the daily mean, max
  and min temperature at 2 m and the precipitation sum. The archive ends yesterday and its newest
  days stay `null` until the reanalysis is published: those days are skipped (not quarantined) and
  read again by the next run, which re-reads the last `archive_lookback_days` anyway (revisions).
- `forecast`: every model run (00:00 UTC) the pipeline has not loaded yet, each read from the
  single-runs host (`/v1/forecast?run=...`) for its 16 days. A run's forecast never changes, so
  a backfill sees exactly what was known on each day: the call forecast's backtests use it.

Open-Meteo has no paging: a long archive window is cut into requests of a year at most (each
request weighs `days/14 x variables/10` calls against the quota). Its 429 carries no Retry-After:
a minute limit means wait for the next minute, an hourly or daily one means stop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from cs_analytics.config import LOCAL_TZ, WEATHER_CONN_ID, IngestSettings, WeatherSettings
from cs_analytics.ingestion.batch import (
    BatchContext,
    LoadResult,
    MissingRequiredColumn,
    QuarantinedRow,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy, SourceRequestError
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows, create_schema_if_missing

log = logging.getLogger(__name__)

SOURCE = "weather"
OBJECTS = ("observed", "forecast")
RAW_TABLES = {"observed": "raw_weather.daily_observations", "forecast": "raw_weather.daily_forecasts"}
DAILY = ("temperature_2m_mean", "temperature_2m_max", "temperature_2m_min", "precipitation_sum")
UNITS = {"temperature_2m_mean": "°C", "temperature_2m_max": "°C", "temperature_2m_min": "°C", "precipitation_sum": "mm"}
FORECAST_DAYS = 16  # a run's horizon on Open-Meteo (forecast_days 0..16)
ARCHIVE_CHUNK_DAYS = 366
TEMPERATURE_RANGE_C = (-60.0, 60.0)
MEASURES = ("temperature_mean_c", "temperature_max_c", "temperature_min_c", "precipitation_mm")
_LINEAGE = ("payload", "_record_hash", "_batch_id", "_loaded_at", "_source")
COLUMNS = {
    "observed": ("weather_date", "latitude", "longitude", *MEASURES, *_LINEAGE),
    "forecast": ("run_date", "weather_date", "lead_days", "latitude", "longitude", *MEASURES, *_LINEAGE),
}
KEYS = {"observed": ("weather_date",), "forecast": ("run_date", "weather_date")}

WEATHER_DDL = (
    create_schema_if_missing("raw_weather")
    + """
-- Observed daily weather of the service area (Open-Meteo archive), the latest version per day.
create table if not exists raw_weather.daily_observations (
    weather_date        date primary key,          -- a Paris calendar day
    latitude            double precision not null, -- the grid cell Open-Meteo answered for
    longitude           double precision not null,
    temperature_mean_c  double precision,
    temperature_max_c   double precision,
    temperature_min_c   double precision,
    precipitation_mm    double precision,
    payload             jsonb not null,            -- the day as served, with its units
    _record_hash        text not null,
    _batch_id           text not null,
    _loaded_at          timestamptz not null,
    _source             text not null
);
-- Every forecast run loaded: what was forecast on run_date for weather_date.
create table if not exists raw_weather.daily_forecasts (
    run_date            date not null,             -- the model run, initialised at 00:00 UTC that day
    weather_date        date not null,
    lead_days           integer not null,          -- weather_date - run_date
    latitude            double precision not null,
    longitude           double precision not null,
    temperature_mean_c  double precision,
    temperature_max_c   double precision,
    temperature_min_c   double precision,
    precipitation_mm    double precision,
    payload             jsonb not null,
    _record_hash        text not null,
    _batch_id           text not null,
    _loaded_at          timestamptz not null,
    _source             text not null,
    primary key (run_date, weather_date)
);
"""
)


class WeatherLoadEmpty(RuntimeError):
    """The source answered but gave none of the data it should have by now."""


class OpenMeteoSession(ApiSession):
    """Open-Meteo's 429 has no Retry-After. Its minute window resets within 60 s; the hourly and
    daily ones do not reset soon enough for a task to wait, so those fail at once with the reason."""

    def rate_limit_delay(self, resp: requests.Response, waits: int) -> float:
        try:
            reason = str(resp.json().get("reason", ""))
        except ValueError:
            reason = resp.text[:200]
        if reason.startswith(("Hourly", "Daily")):
            raise SourceRequestError(f"429 from {resp.url}: {reason} (Open-Meteo quota; the next run catches up)")
        return min(61.0, self.retry.retry_after_cap_s)


@dataclass(frozen=True)
class DayRecord:
    """One day of one answer: its values, the grid cell and where it came from."""

    day: str
    values: dict[str, Any]
    latitude: float
    longitude: float
    endpoint: str
    units: dict[str, str]
    run: date | None = None  # the model run of a forecast day

    def payload(self) -> dict[str, Any]:
        return {"time": self.day, **self.values, "daily_units": self.units,
                "latitude": self.latitude, "longitude": self.longitude}  # fmt: skip


class OpenMeteoClient:
    """The three Open-Meteo hosts the loads use: archive, single runs (and the live forecast)."""

    def __init__(
        self,
        archive: ApiSession,
        single_runs: ApiSession,
        settings: WeatherSettings | None = None,
        api_key: str | None = None,
    ):
        self.archive_api, self.single_runs_api = archive, single_runs
        self.settings = settings or WeatherSettings.from_env()
        self.api_key = api_key

    @classmethod
    def from_connection(
        cls,
        conn_id: str = WEATHER_CONN_ID,
        ingest: IngestSettings | None = None,
        settings: WeatherSettings | None = None,
    ) -> OpenMeteoClient:
        """Connection `weather_api`: host = the forecast host; extras `archive_host` and
        `single_runs_host` (Open-Meteo splits them; a simulator serves all three); an optional
        customer API key in the password."""
        from cs_analytics.connections import get_connection, http_endpoint

        ingest = ingest or IngestSettings.from_env()
        ep = http_endpoint(conn_id)
        extra = get_connection(conn_id).extra_dejson or {}
        scheme = ep.base_url.split("://")[0]

        def session(host_key: str) -> ApiSession:
            host = extra.get(host_key)
            base = ep.base_url if not host else (host if "://" in host else f"{scheme}://{host}")
            policy = RetryPolicy(max_retries=ingest.http_max_retries)
            # The key travels as `&apikey=`, not as a bearer token.
            return OpenMeteoSession(conn_id, base, None, ingest.http_timeout_s, policy)

        return cls(session("archive_host"), session("single_runs_host"), settings, api_key=ep.token)

    def _params(self, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "latitude": self.settings.latitude,
            "longitude": self.settings.longitude,
            "daily": ",".join(DAILY),
            "timezone": LOCAL_TZ,  # days are Paris calendar days, as the call counts are
            "temperature_unit": "celsius",
            **extra,
        }
        if self.api_key:
            params["apikey"] = self.api_key
        return params

    def observed(self, first: date, last: date) -> Iterator[DayRecord]:
        """Each day of [first, last], a request per year at most (the archive has no paging)."""
        start = first
        while start <= last:
            end = min(last, start + timedelta(days=ARCHIVE_CHUNK_DAYS - 1))
            params = self._params(start_date=start.isoformat(), end_date=end.isoformat())
            yield from self._days(self.archive_api.request("GET", "/v1/archive", params=params), "/v1/archive")
            start = end + timedelta(days=1)

    def run(self, run_date: date) -> list[DayRecord]:
        """The 16 days of the model run initialised on `run_date` at 00:00 UTC."""
        run = f"{run_date.isoformat()}T00:00"
        params = self._params(run=run, forecast_days=FORECAST_DAYS)
        endpoint = f"/v1/forecast?run={run}"
        answer = self.single_runs_api.request("GET", "/v1/forecast", params=params)
        return list(self._days(answer, endpoint, run_date))

    @staticmethod
    def _days(body: Any, endpoint: str, run: date | None = None) -> Iterator[DayRecord]:
        """Open-Meteo's column arrays as one record per day; a malformed answer raises, naming it."""
        if not isinstance(body, dict) or not isinstance(body.get("daily"), dict):
            raise ValueError(f"weather {endpoint}: the answer has no 'daily' object: {str(body)[:300]}")
        daily, units = body["daily"], body.get("daily_units") or {}
        times = daily.get("time")
        if not isinstance(times, list):
            raise MissingRequiredColumn(SOURCE, endpoint, "daily.time", "absent from the answer")
        for name in DAILY:
            if not isinstance(daily.get(name), list):
                raise MissingRequiredColumn(SOURCE, endpoint, f"daily.{name}", "absent from the answer")
            if len(daily[name]) != len(times):
                raise ValueError(
                    f"weather {endpoint}: daily.{name} has {len(daily[name])} values for {len(times)} days"
                )
            if units.get(name) != UNITS[name]:
                raise ValueError(f"weather {endpoint}: daily.{name} in {units.get(name)!r}, expected {UNITS[name]!r}")
        for i, day in enumerate(times):
            yield DayRecord(
                day=str(day),
                values={name: daily[name][i] for name in DAILY},
                latitude=float(body.get("latitude", 0.0)),
                longitude=float(body.get("longitude", 0.0)),
                endpoint=endpoint,
                units={name: units[name] for name in DAILY},
                run=run,
            )


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} is not a number: {value!r}")
    return float(value)


def parse_day(rec: DayRecord) -> tuple[date, tuple[float | None, ...]] | None:
    """(day, measures) of a served day; None while it is not published yet (every value null).

    Raises ValueError with the reason when the day cannot be loaded: a bad date, a value that is
    not a number, a temperature outside what the Earth has seen, min above max, negative rain.
    """
    try:
        day = date.fromisoformat(rec.day)
    except ValueError as exc:
        raise ValueError(f"time {rec.day!r} is not a yyyy-mm-dd date") from exc
    values = tuple(_number(name, rec.values.get(name)) for name in DAILY)
    if all(v is None for v in values):
        return None
    mean, high, low, rain = values
    missing = [name for name, v in zip(DAILY, values, strict=True) if v is None]
    if missing:
        raise ValueError(f"incomplete day: {', '.join(missing)} null while other values are set")
    for name, v in zip(DAILY[:3], (mean, high, low), strict=True):
        if not TEMPERATURE_RANGE_C[0] <= v <= TEMPERATURE_RANGE_C[1]:
            raise ValueError(f"{name} {v} °C outside {TEMPERATURE_RANGE_C[0]:g}..{TEMPERATURE_RANGE_C[1]:g} °C")
    if not low - 0.05 <= mean <= high + 0.05:
        raise ValueError(f"inconsistent temperatures: min {low}, mean {mean}, max {high} °C")
    if rain < 0:
        raise ValueError(f"precipitation_sum {rain} mm is negative")
    return day, values


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(LOCAL_TZ))


def _interval_last_day(ctx: BatchContext) -> date:
    """The last Paris day the run covers (its interval end is the next midnight)."""
    end = ctx.interval_end or datetime.now(UTC)
    return (end.astimezone(ZoneInfo(LOCAL_TZ)) - timedelta(microseconds=1)).date()


def load_weather(
    warehouse: Warehouse,
    client: OpenMeteoClient,
    kind: str,
    ctx: BatchContext,
    settings: WeatherSettings | None = None,
    ingest: IngestSettings | None = None,
) -> LoadResult:
    """Load `observed` or `forecast` for the run's interval, idempotently, in one transaction."""
    if kind not in OBJECTS:
        raise ValueError(f"weather: unknown object {kind!r}, expected one of {OBJECTS}")
    settings = settings or client.settings
    ingest = ingest or IngestSettings.from_env()
    table = RAW_TABLES[kind]
    ensure_schema(warehouse)
    warehouse.execute(WEATHER_DDL)
    result = LoadResult(source=ctx.source, object=ctx.object, batch_id=ctx.batch_id)
    last_day = _interval_last_day(ctx)
    first_day_of_interval = (ctx.interval_start or _local_midnight(last_day)).astimezone(ZoneInfo(LOCAL_TZ)).date()

    with warehouse.transaction() as conn:
        watermark = get_watermark(conn, ctx.source, ctx.object)
        marked = watermark.astimezone(ZoneInfo(LOCAL_TZ)).date() if watermark else None
        quarantined: list[QuarantinedRow] = []
        loaded_days: list[date] = []
        pending: list[str] = []
        before_archive: list[date] = []

        if kind == "observed":
            first = (
                min(marked - timedelta(days=settings.archive_lookback_days), first_day_of_interval)
                if marked
                else last_day - timedelta(days=settings.backfill_days - 1)
            )
            records: Iterator[DayRecord] = client.observed(first, last_day)
            runs: list[date] = []
        else:
            first = (
                min(marked + timedelta(days=1), first_day_of_interval)
                if marked
                else last_day - timedelta(days=settings.forecast_backfill_days - 1)
            )
            runs = [first + timedelta(days=i) for i in range((last_day - first).days + 1)]
            records = (rec for run in runs for rec in _run_records(client, run, before_archive))
        result.window_start, result.window_end = _local_midnight(first), _local_midnight(last_day + timedelta(days=1))
        log.info("%s: days [%s, %s] (watermark %s)", table, first, last_day, watermark)

        def rows() -> Iterator[tuple]:
            for rec in records:
                result.rows_read += 1
                location = f"{rec.endpoint}#{rec.day}"
                try:
                    parsed = parse_day(rec)
                except ValueError as exc:
                    quarantined.append(QuarantinedRow(location, f"invalid day: {exc}", json.dumps(rec.payload())))
                    continue
                if parsed is None:
                    pending.append(rec.day)
                    continue
                day, values = parsed
                payload = _canonical(rec.payload())
                loaded_days.append(day)
                lineage = (payload, hashlib.md5(payload.encode()).hexdigest(), ctx.batch_id, ctx.loaded_at, location)
                if kind == "observed":
                    yield (day, rec.latitude, rec.longitude, *values, *lineage)
                else:
                    run = rec.run or day
                    yield (run, day, (day - run).days, rec.latitude, rec.longitude, *values, *lineage)

        keys = KEYS[kind]
        columns = COLUMNS[kind]
        with conn.cursor() as cur:
            cur.execute(f"create temp table _weather_in (like {table}) on commit drop")
            copy_rows(cur, "_weather_in", columns, rows())
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
            cur.execute(
                f"""
                with ins as (
                    insert into {table} as t ({", ".join(columns)})
                    select distinct on ({", ".join(keys)}) {", ".join(columns)} from _weather_in
                    order by {", ".join(keys)}, _record_hash
                    on conflict ({", ".join(keys)}) do update set {updates}
                    where t._record_hash <> excluded._record_hash
                    returning (xmax = 0) as inserted
                )
                select count(*) filter (where inserted), count(*) filter (where not inserted),
                       (select count(*) from (select distinct {", ".join(keys)} from _weather_in) k)
                from ins
                """
            )
            inserted, updated, distinct = cur.fetchone()
        result.rows_inserted, result.rows_updated = inserted, updated
        result.rows_unchanged = distinct - inserted - updated
        result.rows_quarantined = write_quarantine(conn, ctx, quarantined)
        resolve_quarantine(conn, ctx, "select _source from _weather_in", ())
        result.detail = {"first_day": first.isoformat(), "last_day": last_day.isoformat(), "not_yet_published": pending}
        if kind == "forecast":
            result.detail["runs"] = len(runs) - len(before_archive)
            if before_archive:
                result.detail["runs_before_the_archive"] = f"{before_archive[0]}..{before_archive[-1]}"
        _check_not_empty(kind, loaded_days, runs, last_day, settings)
        newest = max(runs) if kind == "forecast" else max(loaded_days)
        new_mark = _local_midnight(newest)
        result.watermark = max(new_mark, watermark) if watermark else new_mark
        advance_watermark(conn, ctx.source, ctx.object, new_mark, ctx.batch_id)
        record_batch(conn, ctx, result)

    log.info("%s", result.summary())
    enforce_quarantine_rate(result, ingest.quarantine_max_rate)
    return result


def _run_records(client: OpenMeteoClient, run: date, before_archive: list[date]) -> list[DayRecord]:
    try:
        records = client.run(run)
    except SourceRequestError as exc:
        # A backfill reaching further back than the single-runs archive: Open-Meteo answers with
        # the range it holds. Those runs do not exist anywhere; the later ones load.
        match = re.search(r"'run' is out of allowed range from (\d{4}-\d{2}-\d{2})", str(exc))
        if match and run < date.fromisoformat(match.group(1)):
            before_archive.append(run)
            return []
        raise
    if not records:
        raise WeatherLoadEmpty(f"weather.forecast: the run of {run} (00:00 UTC) came back with no day")
    return records


def _check_not_empty(
    kind: str, loaded: list[date], runs: list[date], last_day: date, settings: WeatherSettings
) -> None:
    """A load that should have found data and did not fails, naming what is missing (the
    transaction is rolled back with it, so the watermark does not move)."""
    if kind == "forecast":
        if not loaded:
            raise WeatherLoadEmpty(f"weather.forecast: no forecast day loaded for the runs {runs[0]}..{runs[-1]}")
        return
    expected_by = last_day - timedelta(days=settings.archive_max_delay_days)
    newest = max(loaded) if loaded else None
    if newest is None or newest < expected_by:
        raise WeatherLoadEmpty(
            f"weather.observed: the archive has no observed day after {newest or 'none at all'} although the run "
            f"covers {last_day}; Open-Meteo publishes a day within {settings.archive_max_delay_days} days "
            "(WEATHER_ARCHIVE_MAX_DELAY_DAYS): the source is late or the request is wrong"
        )
