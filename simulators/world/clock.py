"""Time: Paris wall time versus UTC instants, string formats, and business hours.

The world keeps every instant as naive UTC `datetime64[s]`; wall times only appear where a
system shows them (CDR files, app payloads, Sage timestamps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARIS_TZ = "Europe/Paris"
OPEN_HOUR = 8
CLOSE_HOUR = 18
_OPEN_SECONDS = (CLOSE_HOUR - OPEN_HOUR) * 3600


def paris_to_utc(wall: np.ndarray) -> np.ndarray:
    """Paris wall times to UTC instants.

    Only used for daytime events: a wall time in the spring-forward gap moves forward, and an
    ambiguous autumn time is read as its first (summer-time) occurrence.
    """
    index = pd.DatetimeIndex(np.asarray(wall, dtype="datetime64[s]"))
    first_occurrence = np.ones(len(index), dtype=bool)
    utc = index.tz_localize(PARIS_TZ, ambiguous=first_occurrence, nonexistent="shift_forward").tz_convert("UTC")
    return utc.tz_localize(None).to_numpy().astype("datetime64[s]")


def utc_to_paris(utc: np.ndarray) -> np.ndarray:
    """UTC instants to Paris wall times (NaT stays NaT)."""
    index = pd.DatetimeIndex(np.asarray(utc, dtype="datetime64[s]")).tz_localize("UTC")
    return index.tz_convert(PARIS_TZ).tz_localize(None).to_numpy().astype("datetime64[s]")


def paris_midnight_utc(days: np.ndarray) -> np.ndarray:
    """The UTC instant at which each Paris calendar day starts."""
    return paris_to_utc(np.asarray(days, dtype="datetime64[D]").astype("datetime64[s]"))


def _with_nulls(text: np.ndarray, instants: np.ndarray) -> np.ndarray:
    out = text.astype(object)
    out[np.isnat(instants)] = None
    return out


def format_utc_z(utc: np.ndarray) -> np.ndarray:
    """`2025-03-04T07:12:33.000Z` (HubSpot, store timestamps); None for NaT."""
    utc = np.asarray(utc, dtype="datetime64[s]")
    text = np.char.add(np.datetime_as_string(utc.astype("datetime64[ms]"), unit="ms"), "Z")
    return _with_nulls(text, utc)


def format_paris_iso(utc: np.ndarray) -> np.ndarray:
    """`2025-03-04T09:00:00+01:00` (the app's local timestamps); None for NaT."""
    utc = np.asarray(utc, dtype="datetime64[s]")
    wall = utc_to_paris(utc)
    offset_hours = ((wall - utc).astype("int64") // 3600).clip(0, 9)
    suffix = np.where(offset_hours == 2, "+02:00", "+01:00")
    text = np.char.add(np.datetime_as_string(wall, unit="s"), suffix)
    return _with_nulls(text, utc)


def format_paris_wall(utc: np.ndarray) -> np.ndarray:
    """`2025-03-04 09:00:00`, Paris wall time without offset (CTI, Sage); None for NaT."""
    utc = np.asarray(utc, dtype="datetime64[s]")
    text = np.char.replace(np.datetime_as_string(utc_to_paris(utc), unit="s"), "T", " ")
    return _with_nulls(text, utc)


class BusinessHours:
    """Mon-Fri 08:00-18:00 Paris, closed on the given holidays, as a clock that only runs when open.

    Converting wall times to "business seconds" and back lets reply delays be drawn in business
    time and still land on real instants, vectorised.
    """

    def __init__(self, days: np.ndarray, is_open: np.ndarray) -> None:
        self.first_day = np.asarray(days, dtype="datetime64[D]")[0]
        self.is_open = np.asarray(is_open, dtype=bool)
        open_seconds = np.where(self.is_open, _OPEN_SECONDS, 0).astype("int64")
        self.day_start_clock = np.concatenate([[0], np.cumsum(open_seconds)[:-1]])
        self.day_end_clock = self.day_start_clock + open_seconds

    def _day_index(self, wall: np.ndarray) -> np.ndarray:
        index = (wall.astype("datetime64[D]") - self.first_day).astype("int64")
        return index.clip(0, len(self.is_open) - 1)

    def clock(self, wall: np.ndarray) -> np.ndarray:
        """Business seconds elapsed since the first day at each wall time."""
        wall = np.asarray(wall, dtype="datetime64[s]")
        day = self._day_index(wall)
        seconds_into_day = (wall - wall.astype("datetime64[D]")).astype("int64")
        within = (seconds_into_day - OPEN_HOUR * 3600).clip(0, _OPEN_SECONDS)
        return self.day_start_clock[day] + np.where(self.is_open[day], within, 0)

    def wall(self, clock: np.ndarray, side: str = "left") -> np.ndarray:
        """The earliest wall time at which the business clock reads `clock`; side="right" takes
        the next open day's opening rather than a day's close when `clock` is both."""
        clock = np.asarray(clock, dtype="int64")
        day = np.searchsorted(self.day_end_clock, clock, side=side).clip(0, len(self.is_open) - 1)
        offset = (clock - self.day_start_clock[day]).clip(0, _OPEN_SECONDS)
        midnight = (self.first_day + day.astype("timedelta64[D]")).astype("datetime64[s]")
        return midnight + (OPEN_HOUR * 3600 + offset).astype("timedelta64[s]")

    def add(self, wall: np.ndarray, business_seconds: np.ndarray) -> np.ndarray:
        """`business_seconds` of opening hours after `wall`, never before it: with no delay, a
        time out of hours moves to the next opening (not back to the previous close)."""
        wall = np.asarray(wall, dtype="datetime64[s]")
        target = self.clock(wall) + np.asarray(business_seconds, dtype="int64")
        earliest = self.wall(target)
        return np.where(earliest < wall, self.wall(target, side="right"), earliest)

    def elapsed(self, start_wall: np.ndarray, end_wall: np.ndarray) -> np.ndarray:
        return self.clock(end_wall) - self.clock(start_wall)
