"""Are the period's marts there, whole and published, when the report is due?

A report is not sent from stale marts without saying so. It is fresh when:
- every day of the period has its row in mart_kpi_daily with its CDR file loaded
  (`is_calls_loaded`), and the period's mart says it is complete (`is_complete_week`, ...);
- the marts were published (quality gate passed) after the period ended.
Days whose ticket figures are still provisional (`is_complete_day` false: tickets of that day
still open) do not hold a report back - first-contact resolution settles over days - but the
report says how many there are.

The report DAGs wait for freshness (sensor in reschedule mode, bounded), then send; a report
that goes out stale carries a "données incomplètes" banner listing what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cs_analytics.reports.catalog import ReportSpec
from cs_analytics.reports.periods import Period
from cs_analytics.reports.queries import local_midnight, published_at


@dataclass(frozen=True)
class Freshness:
    period: Period
    days_covered: int
    days_calls_loaded: int
    provisional_days: int
    period_flag: bool | None  # the period mart's completeness flag (None: no row)
    published_at: datetime | None

    @property
    def published_after_period(self) -> bool:
        return self.published_at is not None and self.published_at >= local_midnight(self.period.end)

    @property
    def complete(self) -> bool:
        return (
            self.days_covered == self.period.days
            and self.days_calls_loaded == self.period.days
            and bool(self.period_flag)
            and self.published_after_period
        )

    @property
    def problems(self) -> list[str]:
        """What is missing, in French, for the banner."""
        out = []
        if self.days_covered < self.period.days:
            out.append(f"{self.period.days - self.days_covered} jour(s) sur {self.period.days} absents des marts")
        if self.days_calls_loaded < self.days_covered:
            missing = self.days_covered - self.days_calls_loaded
            out.append(f"appels de {missing} jour(s) non chargés (fichier CTI en retard)")
        if self.period_flag is False and self.days_covered == self.period.days:
            out.append("période marquée incomplète dans les marts")
        if self.published_at is None:
            out.append("aucune publication des marts enregistrée")
        elif not self.published_after_period:
            out.append(f"marts publiés pour la dernière fois le {self.published_at.astimezone(local_midnight(self.period.end).tzinfo):%d/%m/%Y à %H:%M}, "
                       "avant la fin de la période")  # fmt: skip
        return out

    @property
    def provisional_note(self) -> str | None:
        if not self.provisional_days:
            return None
        return (f"{self.provisional_days} jour(s) aux chiffres de tickets encore provisoires (tickets non clôturés) : "
                "la résolution au premier contact peut encore évoluer.")  # fmt: skip

    def to_dict(self) -> dict:
        return {"period": self.period.key, "complete": self.complete, "problems": self.problems,
                "provisional_days": self.provisional_days,
                "published_at": self.published_at.isoformat() if self.published_at else None}  # fmt: skip


def check(wh, spec: ReportSpec, period: Period) -> Freshness:
    exists = wh.query("select to_regclass('marts.mart_kpi_daily') is not null, to_regclass(%s) is not null",
                      (spec.mart,))[0]  # fmt: skip
    days = loaded = provisional = 0
    flag = None
    if exists[0]:
        days, loaded, provisional = wh.query(
            "select count(*), count(*) filter (where is_calls_loaded), count(*) filter (where not is_complete_day) "
            "from marts.mart_kpi_daily where kpi_date >= %s and kpi_date < %s",
            (period.start, period.end),
        )[0]
    if exists[1]:
        row = wh.query(f"select {spec.complete_flag} from {spec.mart} where {spec.period_column} = %s",
                       (period.start,))  # fmt: skip
        flag = bool(row[0][0]) if row else None
    return Freshness(period, days, loaded, provisional, flag, published_at(wh))
