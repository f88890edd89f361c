"""The weather service's store: the service area's observed daily weather over the world's span.

Forecast runs are not stored: the server derives each run from these rows on request
(`simulators.world.weather.forecast_run`, deterministic per seed and run date), as the real
service keeps every run it ever issued.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd

from simulators.world import World, WorldConfig
from simulators.world.field import LYON_CENTRE
from simulators.world.weather import observed_weather

ELEVATION_M = 173.0  # Lyon, as a 90 m elevation model gives it

WEATHER_SCHEMA = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists observed (
    date             text primary key,   -- YYYY-MM-DD, a Paris calendar day
    normal_c         real,               -- seasonal normal of the daily mean (forecasts revert to it)
    mean_c           real,
    max_c            real,
    min_c            real,
    precipitation_mm real
);
"""


def connect_weather(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("pragma journal_mode=wal")
    conn.executescript(WEATHER_SCHEMA)
    return conn


def write_weather_store(world: World, path: Path) -> dict[str, int]:
    return write_weather(world.config, world.calendar, path)


def write_weather(config: WorldConfig, calendar: pd.DataFrame, path: Path) -> dict[str, int]:
    """The store from the calendar alone (tests build one without the rest of the world)."""
    observed = observed_weather(calendar, config.seed)
    meta = {
        "seed": str(config.seed),
        # The service's "today" is the day after end_date: the sources are read at its midnight.
        "today": (config.end_date + timedelta(days=1)).isoformat(),
        "first_run_date": config.start_date.isoformat(),
        "latitude": str(LYON_CENTRE[0]),
        "longitude": str(LYON_CENTRE[1]),
        "elevation": str(ELEVATION_M),
    }
    conn = connect_weather(path)
    try:
        conn.execute("begin")
        conn.executemany("insert or replace into meta (key, value) values (?, ?)", meta.items())
        conn.executemany(
            "insert or replace into observed values (?, ?, ?, ?, ?, ?)",
            [
                (d.isoformat(), float(n), float(m), float(hi), float(lo), float(p))
                for d, n, m, hi, lo, p in observed.itertuples(index=False)
            ],
        )
        conn.execute("commit")
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    return {"observed_days": len(observed)}
