"""KPI comparisons, the drivers of a change in call volume, and recommendations: the analyses
the recurring reports carry (spec 3.1; 000: weekly report with week-over-week and year-over-year,
quarterly trends with their drivers, recommendations with their numbers).

Pure: mart rows (mappings or DataFrames) in, small dataclasses out. Targets and "on target"
flags are columns of the marts, read here, never numbers of this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads when an analysis runs, not when the catalog of KPIs is imported
    import pandas as pd

# Units: how a value is printed and how a change is expressed. Rates and scores move in points
# (68 % -> 72 % is +4 pts, not +5.9 %); counts, amounts and durations in relative terms.
POINT_UNITS = frozenset({"pct", "nps", "score"})
UNITS = frozenset({"count", "pct", "nps", "score", "eur", "hours", "seconds", "decimal"})


@dataclass(frozen=True)
class KpiSpec:
    """One KPI of a report: the mart column, its French label, its unit, and where its target
    lives. `on_target` names the mart's flag (prefixed `!` when the flag means "off target",
    as alert flags do); without a flag, `target` + `target_op` compare with the target column."""

    column: str
    label: str
    unit: str = "count"
    target: str | None = None
    target_op: str | None = None  # '>', '>=', '<', '<=' (how the target reads: "> 40")
    on_target: str | None = None
    better: str | None = "higher"  # which way a change is good: higher | lower | None (neutral)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"KPI {self.column}: unit {self.unit!r} not in {sorted(UNITS)}")
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"KPI {self.column}: better must be 'higher', 'lower' or None")
        if self.target and self.target_op not in (">", ">=", "<", "<="):
            raise ValueError(f"KPI {self.column}: a target needs target_op among > >= < <=")

    @property
    def columns(self) -> tuple[str, ...]:
        """The mart columns this KPI reads."""
        cols = [self.column]
        if self.target:
            cols.append(self.target)
        if self.on_target:
            cols.append(self.on_target.lstrip("!"))
        return tuple(cols)


@dataclass(frozen=True)
class Change:
    """A change against a reference period: absolute difference, and relative for counts."""

    reference: float | None
    delta: float | None  # value - reference (points for rates and scores)
    ratio: float | None  # value / reference - 1, for units that change in relative terms
    in_points: bool
    verdict: str | None  # 'better' | 'worse' | 'same' | None (unknown or neutral KPI)


@dataclass(frozen=True)
class KpiLine:
    spec: KpiSpec
    value: float | None
    target: float | None
    status: str | None  # 'ok' | 'ko' | None (no target, or no value)
    previous: Change
    last_year: Change


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN is missing


def change(spec: KpiSpec, value: Any, reference: Any) -> Change:
    v, r = _num(value), _num(reference)
    in_points = spec.unit in POINT_UNITS
    if v is None or r is None:
        return Change(r, None, None, in_points, None)
    delta = v - r
    ratio = None if in_points or r == 0 else v / r - 1
    # "the same" within a rounding hair: 0.05 point, or 0.5 %
    same = abs(delta) < 0.05 if in_points else (abs(ratio) < 0.005 if ratio is not None else delta == 0)
    if spec.better is None:
        verdict = None
    elif same:
        verdict = "same"
    else:
        verdict = "better" if (delta > 0) == (spec.better == "higher") else "worse"
    return Change(r, delta, ratio, in_points, verdict)


def _status(spec: KpiSpec, row: Mapping[str, Any], value: float | None, target: float | None) -> str | None:
    if value is None:
        return None
    if spec.on_target:
        negate = spec.on_target.startswith("!")
        flag = row.get(spec.on_target.lstrip("!"))
        if flag is None or (isinstance(flag, float) and flag != flag):
            return None
        if bool(flag) == negate:
            return "ko"
        # the mart's flag holds back while the figure settles (an alert flag waits for settled
        # tickets): off target but not flagged yet is "provisional", never shown as on target
        if target is not None and spec.target_op is not None and not _meets(spec.target_op, value, target):
            return "wait"
        return "ok"
    if target is None or spec.target_op is None:
        return None
    return "ok" if _meets(spec.target_op, value, target) else "ko"


def _meets(op: str, value: float, target: float) -> bool:
    return {">": value > target, ">=": value >= target, "<": value < target, "<=": value <= target}[op]


def compare(
    specs: Sequence[KpiSpec],
    current: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    last_year: Mapping[str, Any] | None,
) -> list[KpiLine]:
    """Each KPI of the period against its target, the previous period and the same period a year
    before (a missing period, or a missing value, gives no comparison rather than a wrong one)."""
    lines = []
    for spec in specs:
        if spec.column not in current:
            raise KeyError(f"KPI {spec.column!r} is not a column of the period's row")
        value = _num(current.get(spec.column))
        target = _num(current.get(spec.target)) if spec.target else None
        lines.append(
            KpiLine(
                spec=spec,
                value=value,
                target=target,
                status=_status(spec, current, value, target),
                previous=change(spec, value, previous.get(spec.column) if previous else None),
                last_year=change(spec, value, last_year.get(spec.column) if last_year else None),
            )
        )
    return lines


# ----------------------------------------------------------------------------- call-volume drivers
@dataclass(frozen=True)
class Driver:
    name: str  # calendar | peaks | motive | weather | underlying
    calls: float  # calls this driver accounts for in the change (signed)
    text: str  # French, with its numbers


@dataclass(frozen=True)
class VolumeDrivers:
    calls: int
    reference_calls: int
    change: int
    drivers: list[Driver] = field(default_factory=list)


def _fr(value: float, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",")
    return text


def _signed(value: float, decimals: int = 0) -> str:
    return ("+" if value >= 0 else "−") + _fr(abs(value), decimals)


DAILY_COLUMNS = ("kpi_date", "calls_per_day", "is_business_day", "is_public_holiday", "is_unusual_call_peak",
                 "calls_same_weekday_avg_4w")  # fmt: skip


def call_volume_drivers(
    days: pd.DataFrame,
    reference_days: pd.DataFrame,
    motives: pd.DataFrame | None = None,
    reference_motives: pd.DataFrame | None = None,
    reference_label: str = "la période précédente",
    cold_below_c: float | None = None,
    heat_above_c: float | None = None,
) -> VolumeDrivers:
    """What moved the call volume between two periods, in calls, each driver with its numbers:

    - calendar: open days gained or lost (weekday mix, public holidays), valued at the reference
      period's calls per open day, and the closed days at theirs;
    - peaks: calls above the usual level on the days the marts flag as unusual peaks
      (`is_unusual_call_peak`, against `calls_same_weekday_avg_4w`);
    - weather: calls per open day on cold or hot days against the others, when the daily rows
      carry `temperature_mean_c` (and thresholds are given);
    - underlying: what remains, as the change in calls per open day outside the peaks;
    - motive: the motives (`category`, `calls`) that grew or fell most.
    `days` rows: DAILY_COLUMNS (one per day of the period)."""
    missing = [c for c in DAILY_COLUMNS if c not in days.columns or c not in reference_days.columns]
    if missing:
        raise KeyError(f"daily rows lack {missing}")
    if days.empty or reference_days.empty:
        raise ValueError("both periods need days to compare the call volume")

    def parts(d: pd.DataFrame) -> dict[str, float]:
        calls = d["calls_per_day"].astype(float)
        open_ = d["is_business_day"].astype(bool)
        peak = d["is_unusual_call_peak"].fillna(False).astype(bool)
        usual = d["calls_same_weekday_avg_4w"].astype(float).fillna(calls)
        excess = float((calls - usual).where(peak, 0.0).clip(lower=0).sum())
        return {
            "calls": float(calls.sum()),
            "open_days": float(open_.sum()),
            "closed_days": float((~open_).sum()),
            "holidays": float(d["is_public_holiday"].astype(bool).sum()),
            "open_calls": float(calls[open_].sum()),
            "closed_calls": float(calls[~open_].sum()),
            "peak_excess": excess,
            "peak_days": float(peak.sum()),
        }

    import pandas as pd

    cur, ref = parts(days), parts(reference_days)
    per_open_ref = ref["open_calls"] / ref["open_days"] if ref["open_days"] else 0.0
    per_closed_ref = ref["closed_calls"] / ref["closed_days"] if ref["closed_days"] else 0.0
    total = cur["calls"] - ref["calls"]
    drivers: list[Driver] = []

    calendar = (cur["open_days"] - ref["open_days"]) * per_open_ref + (
        cur["closed_days"] - ref["closed_days"]
    ) * per_closed_ref
    holidays = ""
    if cur["holidays"] or ref["holidays"]:
        holidays = f", {int(cur['holidays'])} jour(s) férié(s) contre {int(ref['holidays'])}"
    drivers.append(
        Driver(
            "calendar",
            calendar,
            f"Calendrier : {int(cur['open_days'])} jours ouvrés contre {int(ref['open_days'])}{holidays} "
            f"({_signed(calendar)} appels à {_fr(per_open_ref, 1)} appels par jour ouvré).",
        )
    )
    peaks = cur["peak_excess"] - ref["peak_excess"]
    if cur["peak_days"] or ref["peak_days"]:
        drivers.append(
            Driver(
                "peaks",
                peaks,
                f"Pics inhabituels : {int(cur['peak_days'])} jour(s) contre {int(ref['peak_days'])}, "
                f"{_fr(cur['peak_excess'])} appels au-dessus de l'habitude contre {_fr(ref['peak_excess'])} "
                f"({_signed(peaks)}).",
            )
        )
    underlying = total - calendar - peaks
    open_cur_base = (cur["open_calls"] - cur["peak_excess"]) / cur["open_days"] if cur["open_days"] else 0.0
    open_ref_base = (ref["open_calls"] - ref["peak_excess"]) / ref["open_days"] if ref["open_days"] else 0.0
    drivers.append(
        Driver(
            "underlying",
            underlying,
            f"Activité de fond : {_fr(open_cur_base, 1)} appels par jour ouvré hors pics contre "
            f"{_fr(open_ref_base, 1)} ({_signed(underlying)} appels).",
        )
    )
    if "temperature_mean_c" in days.columns and (cold_below_c is not None or heat_above_c is not None):
        open_days = days[days["is_business_day"].astype(bool)].dropna(subset=["temperature_mean_c"])
        temp = open_days["temperature_mean_c"].astype(float)
        extreme = pd.Series(False, index=open_days.index)
        if cold_below_c is not None:
            extreme |= temp < cold_below_c
        if heat_above_c is not None:
            extreme |= temp > heat_above_c
        if extreme.any() and (~extreme).any():
            on = float(open_days.loc[extreme, "calls_per_day"].mean())
            off = float(open_days.loc[~extreme, "calls_per_day"].mean())
            drivers.append(
                Driver(
                    "weather",
                    (on - off) * int(extreme.sum()),
                    f"Météo : {int(extreme.sum())} jour(s) ouvré(s) de températures extrêmes, "
                    f"{_fr(on, 1)} appels par jour contre {_fr(off, 1)} les autres jours.",
                )
            )
    if motives is not None and reference_motives is not None and not motives.empty:
        merged = (
            motives.set_index("category")["calls"]
            .rename("cur")
            .to_frame()
            .join(reference_motives.set_index("category")["calls"].rename("ref"), how="outer")
            .fillna(0.0)
        )
        merged["delta"] = merged["cur"] - merged["ref"]
        movers = merged.reindex(merged["delta"].abs().sort_values(ascending=False).index).head(2)
        for category, row in movers.iterrows():
            if row["delta"] == 0:
                continue
            drivers.append(
                Driver(
                    "motive",
                    float(row["delta"]),
                    f"Motif « {category} » : {_fr(row['cur'])} appels contre {_fr(row['ref'])} "
                    f"({_signed(row['delta'])}).",
                )
            )
    return VolumeDrivers(int(cur["calls"]), int(ref["calls"]), int(round(total)), drivers)


# ----------------------------------------------------------------------------- recommendations
# What to do when a KPI is off target: the action is the report's wording; the numbers come
# from the KPI line (value, target, change). Spec 1.4 / 2.2 / 3.2 vocabulary.
ACTIONS = {
    "nps": "appeler les détracteurs du trimestre et traiter leurs motifs de réclamation en priorité",
    "avg_satisfaction": "revoir les interventions notées sous 3/5 avec les techniciens concernés",
    "survey_response_rate": "relancer les questionnaires non répondus sous 48 h et raccourcir le formulaire",
    "first_contact_resolution_rate": "enrichir la base de réponses des agents sur les motifs les plus fréquents",
    "avg_first_reply_business_hours": "réserver un créneau quotidien au traitement des e-mails et formulaires",
    "avg_resolution_business_hours": "suivre chaque jour les tickets ouverts depuis plus de 24 h",
    "service_level": "renforcer l'équipe aux heures de pointe (prévision d'appels J+1 à J+30)",
    "abandonment_rate": "renforcer l'équipe aux heures de pointe (prévision d'appels J+1 à J+30)",
    "lost_customers": "contacter les clients à risque de départ (score > 70) avant la fin de leur contrat",
    "field_quote_revenue_eur": "relancer les devis terrain en attente depuis plus de 7 jours",
    "cost_per_call_eur": "orienter les demandes simples vers la prise de RDV en ligne",
}


def _value_text(unit: str, value: float) -> str:
    if unit == "pct":
        return f"{_fr(value * 100, 1)} %"
    if unit == "eur":
        return f"{_fr(value)} €"
    if unit == "hours":
        return f"{_fr(value, 1)} h"
    if unit in ("nps", "decimal"):
        return _fr(value, 1)
    if unit == "score":
        return f"{_fr(value, 2)}/5"
    if unit == "seconds":
        return f"{_fr(value)} s"
    return _fr(value)


def recommendations(lines: Sequence[KpiLine], drivers: VolumeDrivers | None = None,
                    segments: pd.DataFrame | None = None, limit: int = 5) -> list[str]:  # fmt: skip
    """Recommendations derived from the period's figures, most urgent first, each with its numbers:
    the KPIs off target (worsening ones first), the call volume's main driver, and the segment
    whose share of revenue is most at risk (`segments`: label, customers, revenue_share)."""
    out: list[tuple[int, str]] = []
    for line in lines:
        if line.status != "ko" or line.value is None or line.spec.column not in ACTIONS:
            continue
        unit = line.spec.unit
        target = f" (cible {line.spec.target_op} {_value_text(unit, line.target)})" if line.target is not None else ""
        trend = ""
        change_ = line.previous if line.previous.delta is not None else line.last_year
        if change_.delta is not None and change_.reference is not None:
            trend = f", contre {_value_text(unit, change_.reference)} auparavant"
        worsening = 0 if line.previous.verdict == "worse" or line.last_year.verdict == "worse" else 1
        out.append(
            (
                worsening,
                f"{line.spec.label} à {_value_text(unit, line.value)}{target}{trend} : {ACTIONS[line.spec.column]}.",
            )
        )
    if drivers is not None and drivers.reference_calls and abs(drivers.change) / drivers.reference_calls >= 0.05:
        main = max(drivers.drivers, key=lambda d: abs(d.calls))
        direction = "hausse" if drivers.change > 0 else "baisse"
        out.append(
            (1, f"Appels en {direction} de {_fr(abs(drivers.change))} ({_signed(100 * drivers.change / drivers.reference_calls, 1)} %), "
                f"d'abord expliquée par : {main.text[0].lower() + main.text[1:]} Ajuster le planning de l'équipe en conséquence.")
        )  # fmt: skip
    if segments is not None and not segments.empty and {"label", "customers", "revenue_share"} <= set(segments.columns):
        at_risk = segments[segments["label"].str.contains("risque", case=False)]
        if not at_risk.empty:
            seg = at_risk.iloc[0]
            out.append(
                (1, f"{seg['label']} : {int(seg['customers'])} clients, {_fr(100 * float(seg['revenue_share']), 1)} % du "
                    "montant facturé (RFM) : lancer la campagne de réactivation prévue pour ce segment.")
            )  # fmt: skip
    out.sort(key=lambda item: item[0])
    return [text for _, text in out[:limit]]
