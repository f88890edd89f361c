"""What a world is made from, and the dates it spans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
GENERATOR_VERSION = "1.6.0"  # 1.6.0: weather (ml) and contacts with hs_email_optout (alerts)

# Activity before the first exported day fills the trailing windows the churn hazard reads, so
# the first exported months behave like every later month.
WARMUP_DAYS = 180
FUTURE_DAYS = 180
FORECAST_TRUTH_DAYS = 60


@dataclass(frozen=True)
class WorldConfig:
    end_date: date
    seed: int = 42
    scale: float = 1.0
    years: int = 2

    def __post_init__(self) -> None:
        if self.scale <= 0 or self.years < 1:
            raise ValueError("scale must be positive and years at least 1")

    @property
    def start_date(self) -> date:
        """First exported day: the same calendar day `years` earlier (28 February for a 29th)."""
        try:
            return self.end_date.replace(year=self.end_date.year - self.years)
        except ValueError:
            return self.end_date.replace(year=self.end_date.year - self.years, day=28)

    @property
    def warmup_start(self) -> date:
        return self.start_date - timedelta(days=WARMUP_DAYS)

    @property
    def horizon_end(self) -> date:
        return self.end_date + timedelta(days=FUTURE_DAYS)

    @property
    def snapshot(self) -> datetime:
        """The moment the sources are exported: the end of `end_date` in Paris, as naive UTC."""
        local_midnight = datetime.combine(self.end_date + timedelta(days=1), datetime.min.time(), PARIS)
        return local_midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def default_end_date(now: datetime) -> date:
    """Yesterday in Paris: the last full day the sources can show."""
    return now.astimezone(PARIS).date() - timedelta(days=1)
