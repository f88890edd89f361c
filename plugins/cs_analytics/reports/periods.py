"""The period a report covers, the one before it and the same one a year earlier.

Pure (no clock, no I/O): a report run due at an instant covers the last complete period
before it, in Paris time - the daily report of 08:00 on the 11th covers the 10th, the Monday
report the ISO week that ended on Sunday, the report of the 1st the month (or quarter) that
just ended. The key (2026-03-10, 2026-W11, 2026-03, 2026-Q1) makes the report's messages
unique per period: a re-run finds them already written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cs_analytics.config import LOCAL_TZ

KINDS = ("day", "week", "month", "quarter")
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")  # fmt: skip


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # exclusive

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"period kind {self.kind!r} not in {KINDS}")
        if self.end <= self.start:
            raise ValueError(f"empty period {self.start} .. {self.end}")

    @classmethod
    def containing(cls, kind: str, day: date) -> Period:
        if kind == "day":
            return cls(kind, day, day + timedelta(days=1))
        if kind == "week":
            start = day - timedelta(days=day.weekday())
            return cls(kind, start, start + timedelta(days=7))
        if kind == "month":
            start = day.replace(day=1)
            return cls(kind, start, _add_months(start, 1))
        if kind == "quarter":
            start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
            return cls(kind, start, _add_months(start, 3))
        raise ValueError(f"period kind {kind!r} not in {KINDS}")

    @classmethod
    def ending_before(cls, kind: str, instant: datetime) -> Period:
        """The last complete period before `instant` (aware), in Paris time."""
        if instant.tzinfo is None:
            raise ValueError("the run's instant must be timezone-aware")
        # the period holding the instant has just begun (or is under way): the one before it is over
        return cls.containing(kind, instant.astimezone(ZoneInfo(LOCAL_TZ)).date()).previous()

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self) -> Period:
        return self.shifted(-1)

    def shifted(self, n: int) -> Period:
        """The period n steps before (negative) or after."""
        if self.kind == "day":
            return Period.containing("day", self.start + timedelta(days=n))
        if self.kind == "week":
            return Period.containing("week", self.start + timedelta(weeks=n))
        months = {"month": 1, "quarter": 3}[self.kind] * n
        return Period.containing(self.kind, _add_months(self.start, months))

    def last_year(self) -> Period:
        """The same period a year before: the same weekday 52 weeks earlier for a day or a week
        (a Tuesday compares with a Tuesday), the same month or quarter for the others."""
        if self.kind in ("day", "week"):
            return Period.containing(self.kind, self.start - timedelta(weeks=52))
        return Period.containing(self.kind, _add_months(self.start, -12))

    @property
    def key(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            iso = self.start.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def label(self) -> str:
        """French, as a reader says it: « mardi 10/03/2026 », « semaine 11 (du 09/03 au 15/03/2026) »..."""
        if self.kind == "day":
            return f"{_DAYS[self.start.weekday()]} {self.start:%d/%m/%Y}"
        if self.kind == "week":
            return f"semaine {self.start.isocalendar().week} (du {self.start:%d/%m} au {self.last_day:%d/%m/%Y})"
        if self.kind == "month":
            return f"{_MONTHS[self.start.month - 1]} {self.start.year}"
        return f"T{(self.start.month - 1) // 3 + 1} {self.start.year}"

    @property
    def short_label(self) -> str:
        if self.kind == "day":
            return f"{self.start:%d/%m/%Y}"
        if self.kind == "week":
            return f"S{self.start.isocalendar().week} {self.start.isocalendar().year}"
        return self.label
