"""Customer retention for the reports: the cohort retention table (000, "analyse de cohorte")
and the retention curve, Kaplan-Meier with its 95 % confidence band (002, "analyse de survie
(Kaplan-Meier) : implémenté avec lifelines").

Pure: a frame of customers (`customer_id`, `customer_since`, `lost_date`) and the as-of day in,
frames out. A customer is retained N months after signing up while not lost by then; a cohort's
share at N months is shown only once every member has been a customer for N months (else the
table would mix observed and unobserved customers), as 000's table leaves its corner empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12
_MONTHS_FR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def _customers(customers: pd.DataFrame, as_of: date) -> pd.DataFrame:
    missing = {"customer_id", "customer_since", "lost_date"} - set(customers.columns)
    if missing:
        raise KeyError(f"customers lack {sorted(missing)}")
    df = customers[["customer_id", "customer_since", "lost_date"]].copy()
    df["customer_since"] = pd.to_datetime(df["customer_since"])
    df["lost_date"] = pd.to_datetime(df["lost_date"])
    asof = pd.Timestamp(as_of)
    df = df[df["customer_since"].notna() & (df["customer_since"] <= asof)]
    # a loss after the as-of day is not known yet
    df.loc[df["lost_date"] > asof, "lost_date"] = pd.NaT
    return df


def cohort_label(start: pd.Timestamp, freq: str) -> str:
    if freq == "Q":
        return f"T{(start.month - 1) // 3 + 1} {start.year}"
    return f"{_MONTHS_FR[start.month - 1]} {start.year}"


def cohort_retention(
    customers: pd.DataFrame,
    as_of: date,
    freq: str = "Q",
    months: tuple[int, ...] = (3, 6, 12, 18, 24),
    cohorts: int = 8,
) -> pd.DataFrame:
    """Customers by signup quarter (`freq="Q"`) or month (`"M"`), the last `cohorts` cohorts:
    `cohort`, `cohort_start`, `customers`, then `M+n` = share still customers n months after their
    own signup (NaN until every member of the cohort has reached n months)."""
    if freq not in ("Q", "M"):
        raise ValueError("freq is 'Q' (quarter) or 'M' (month)")
    df = _customers(customers, as_of)
    asof = pd.Timestamp(as_of)
    period = df["customer_since"].dt.to_period(freq)
    df = df.assign(cohort_start=period.dt.start_time)
    starts = sorted(df["cohort_start"].unique())[-cohorts:]
    rows = []
    for start in starts:
        members = df[df["cohort_start"] == start]
        cohort_end = pd.Timestamp(start).to_period(freq).end_time.normalize()
        row: dict[str, object] = {"cohort": cohort_label(pd.Timestamp(start), freq), "cohort_start": start.date(),
                                  "customers": len(members)}  # fmt: skip
        for n in months:
            if cohort_end + pd.DateOffset(months=n) > asof:
                row[f"M+{n}"] = np.nan  # not every member observed for n months yet
                continue
            horizon = members["customer_since"] + pd.DateOffset(months=n)
            retained = members["lost_date"].isna() | (members["lost_date"] > horizon)
            row[f"M+{n}"] = float(retained.mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=["cohort", "cohort_start", "customers", *(f"M+{n}" for n in months)])


@dataclass(frozen=True)
class RetentionCurve:
    """Kaplan-Meier estimate: `curve` has `months`, `survival`, `lower`, `upper` (95 % band)."""

    curve: pd.DataFrame
    customers: int
    losses: int
    median_months: float | None  # None when more than half the customers are still there
    at: dict[int, float]  # survival at 12, 24, 36 months (when the data reach that far)


def kaplan_meier(
    durations: pd.Series | np.ndarray,
    lost: pd.Series | np.ndarray,
    at_months: tuple[int, ...] = (12, 24, 36),
    entry: pd.Series | np.ndarray | None = None,
) -> RetentionCurve:
    """Kaplan-Meier survival of customers, durations in months, `lost` the event; `entry` (months
    already survived when observation began) corrects for customers seen only from then on."""
    from lifelines import KaplanMeierFitter

    d = np.asarray(durations, dtype=float)
    e = np.asarray(lost, dtype=bool)
    if len(d) == 0:
        raise ValueError("no customer to estimate a retention curve on")
    if (d < 0).any():
        raise ValueError("a duration is negative")
    kmf = KaplanMeierFitter(alpha=0.05)
    kmf.fit(d, event_observed=e, entry=None if entry is None else np.asarray(entry, dtype=float))
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    curve = pd.DataFrame({"months": sf.index.to_numpy(dtype=float), "survival": sf.to_numpy(),
                          "lower": ci.iloc[:, 0].to_numpy(), "upper": ci.iloc[:, 1].to_numpy()})  # fmt: skip
    median = float(kmf.median_survival_time_)
    at = {m: float(kmf.survival_function_at_times(m).iloc[0]) for m in at_months if m <= d.max()}
    return RetentionCurve(curve, int(len(d)), int(e.sum()), None if np.isinf(median) else median, at)


def customer_durations(customers: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Months each customer has been (or was) a customer up to the as-of day, and whether lost."""
    df = _customers(customers, as_of)
    end = df["lost_date"].fillna(pd.Timestamp(as_of))
    return pd.DataFrame({"customer_id": df["customer_id"].to_numpy(),
                         "months": ((end - df["customer_since"]).dt.days / DAYS_PER_MONTH).to_numpy(),
                         "lost": df["lost_date"].notna().to_numpy()})  # fmt: skip
