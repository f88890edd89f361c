"""The Sage general ledger: what the company spends each month, posted with an analytic section.

Costs follow the world's people and activity. The customer-service desk (analytic section
`SERVCLIENT`) costs its agents' pay and employer contributions, overtime when the month's calls
exceed what the agents handle in their hours, a temporary agent in the busiest months, the call
centre's telephony and the CRM seats; a telephony credit note now and then reduces it. The field
team (`TERRAIN`) costs the technicians' pay, the on-call allowance of whoever answers the night
line, their mobiles, the app seats and fuel. Rent carries no section. Accounts are the French
chart (PCG); journals `PAIE` (payroll) and `ACH` (purchases).

Timing is what an accountant's month looks like: payroll is keyed on the month's last business
day and dated its last day; suppliers bill subscriptions and rent in advance (dated the 1st,
keyed in the first business days); the fuel card and the temp agency bill at month end and are
keyed in the first days of the next month; the accountant closes every journal of a month on
the 10th of the next (or the next business day). Amounts are EUR, excluding VAT on the expense
lines; every entry balances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from simulators.world.clock import paris_to_utc
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

CUSTOMER_SERVICE = "SERVCLIENT"
FIELD = "TERRAIN"
SECTIONS = {CUSTOMER_SERVICE: "Service client", FIELD: "Interventions terrain"}

ACCOUNTS = {
    "401000": "Fournisseurs",
    "421000": "Personnel - rémunérations dues",
    "431000": "Sécurité sociale",
    "437000": "Autres organismes sociaux",
    "445660": "TVA déductible sur autres biens et services",
    "606140": "Carburants",
    "613200": "Locations immobilières",
    "621100": "Personnel intérimaire",
    "626000": "Frais postaux et de télécommunications",
    "641100": "Salaires, appointements",
    "641400": "Indemnités et avantages divers",
    "645100": "Cotisations à l'URSSAF",
    "645300": "Cotisations aux caisses de retraite",
    "651100": "Redevances pour logiciels",
}

# Monthly gross pay in the year of `end_date`; 2 % raise each January.
MANAGER_GROSS = 2_450.0  # Claire, the service manager (agent 0)
AGENT_GROSS = 1_950.0
TECHNICIAN_GROSS = 2_300.0
ANNUAL_RAISE = 0.02
YEAR_END_BONUS = 0.5  # of a month's gross, paid in December
EMPLOYER_URSSAF = 0.25
EMPLOYER_PENSION = 0.11
EMPLOYEE_DEDUCTIONS = 0.22  # withheld from gross: 60 % to URSSAF, 40 % to the pension funds
PAID_HOURS_PER_MONTH = 151.67  # 35 h x 52 / 12
OVERTIME_PREMIUM = 1.25
# Calls an agent handles in a business day within contractual hours; beyond, overtime.
AGENT_CALLS_PER_BUSINESS_DAY = 15.0
OVERTIME_HOURS_PER_EXTRA_CALL = 0.25
TEMP_AGENT_ABOVE = 1.3  # a temporary agent when the month's calls exceed capacity by 30 %
TEMP_AGENT_MONTH_EUR = 2_950.0
ON_CALL_WEEK_EUR = 150.0
NIGHT_CALL_EUR = 20.0
TELEPHONY_TRUNK_EUR = 79.0
TELEPHONY_AGENT_SEAT_EUR = 24.0
TECHNICIAN_MOBILE_EUR = 19.0
CRM_SEAT_EUR = 55.0
FIELD_APP_SEAT_EUR = 35.0
FUEL_PER_TECHNICIAN_MONTH_EUR = 210.0
RENT_EUR = 1_450.0
VAT = 0.20
CLOSING_DAY = 10


@dataclass
class GeneralLedger:
    lines: pd.DataFrame  # one row per ledger line (F_ECRITUREC), in keying order
    analytic: pd.DataFrame  # analytic split of the expense lines (F_ECRITUREA)
    periods: pd.DataFrame  # journal x month, when opened and closed (F_JMOUV)
    customer_service_costs: pd.DataFrame = field(default_factory=pd.DataFrame)  # truth, per month


@dataclass
class _Line:
    account: str
    sens: int  # 0 debit, 1 credit (Sage EC_Sens)
    amount: float
    label: str
    sections: tuple[tuple[str, float], ...] = ()
    due: date | None = None


@dataclass
class _Entry:
    journal: str
    period: date  # first day of the accounting month
    day: int  # day of the month (EC_Jour)
    reference: str
    keyed_utc: np.datetime64
    lines: list[_Line]


def _split(total: float, shares: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """Amounts per section summing exactly to `total` (cents: the last section takes the rest)."""
    items = [(s, v) for s, v in shares.items() if v > 0]
    weight = sum(v for _, v in items)
    out, given = [], 0.0
    for i, (section, value) in enumerate(items):
        amount = round(total - given, 2) if i == len(items) - 1 else round(total * value / weight, 2)
        given = round(given + amount, 2)
        out.append((section, amount))
    return tuple(out)


def _expense(account: str, label: str, shares: dict[str, float] | None, amount: float) -> _Line:
    amount = round(amount, 2)
    return _Line(account, 0, amount, label, _split(amount, shares) if shares else ())


class _Calendar:
    """Open days (Mon-Fri, not a French holiday) and keying instants in Paris wall time."""

    def __init__(self, calendar: pd.DataFrame, rng: np.random.Generator) -> None:
        self.dates = np.array(calendar["date"], dtype="datetime64[D]")
        self.open = calendar["is_open"].to_numpy()
        self.rng = rng

    def open_days(self, first: np.datetime64, last: np.datetime64) -> np.ndarray:
        inside = (self.dates >= first) & (self.dates <= last) & self.open
        return self.dates[inside]

    def nth_open_day(self, month_start: np.datetime64, n: int) -> np.datetime64:
        days = self.open_days(month_start, month_start + 40)
        return days[min(n, len(days) - 1)]

    def last_open_day(self, month_start: np.datetime64) -> np.datetime64:
        month_end = (month_start.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
        return self.open_days(month_start, month_end)[-1]

    def at(self, day: np.datetime64, first_hour: float, last_hour: float) -> np.datetime64:
        seconds = int(self.rng.uniform(first_hour, last_hour) * 3600)
        wall = day.astype("datetime64[s]") + np.timedelta64(seconds, "s")
        return paris_to_utc(np.array([wall]))[0]


def _monthly_activity(calendar: pd.DataFrame, calls: pd.DataFrame, technicians: int) -> pd.DataFrame:
    """Per month: business days, calls the agents handled, night-line calls answered, on-call days."""
    days = pd.DataFrame({"date": pd.to_datetime(calendar["date"]), "is_open": calendar["is_open"].to_numpy()})
    days["month"] = days["date"].dt.to_period("M")
    local = pd.to_datetime(calls["local_date"])
    answered = calls["outcome"].to_numpy() == "answered"
    by_agents = answered & calls["channel"].isin(["day", "outbound"]).to_numpy()
    night = answered & calls["channel"].isin(["night", "dst"]).to_numpy()
    activity = pd.DataFrame(
        {
            "business_days": days.groupby("month")["is_open"].sum(),
            "calendar_days": days.groupby("month").size(),
            "handled_calls": pd.Series(by_agents, index=local.dt.to_period("M")).groupby(level=0).sum(),
            "night_calls": pd.Series(night, index=local.dt.to_period("M")).groupby(level=0).sum(),
        }
    ).fillna(0)
    activity["technicians"] = technicians
    return activity


def build_general_ledger(
    config: WorldConfig, calendar: pd.DataFrame, agents: pd.DataFrame, technicians: pd.DataFrame, calls: pd.DataFrame
) -> GeneralLedger:
    """Every month's cost entries from the first full month of the calendar to the month after `end_date`."""
    rng = component_rng(config.seed, "general_ledger")
    clock = _Calendar(calendar, rng)
    activity = _monthly_activity(calendar, calls, len(technicians))
    n_agents, n_technicians = len(agents), len(technicians)
    first_month = pd.Period(calendar["date"].iloc[0], "M") + 1  # the warm-up's first month is partial
    last_month = pd.Period(config.end_date, "M") + 1
    credit_note_months = {
        pd.Period(f"{year}-{int(rng.integers(1, 13)):02d}", "M")
        for year in range(first_month.year, last_month.year + 1)
    }

    entries: list[_Entry] = []
    truth = []
    for month in pd.period_range(first_month, last_month, freq="M"):
        start = np.datetime64(month.start_time.date(), "D")
        last_day = month.days_in_month
        act = activity.loc[month]
        raise_factor = (1 + ANNUAL_RAISE) ** (month.year - config.end_date.year)
        label_month = f"{month.month:02d}/{month.year}"

        # --- payroll: pay, overtime, on-call allowances, employer contributions
        agent_gross = (MANAGER_GROSS + AGENT_GROSS * (n_agents - 1)) * raise_factor
        technician_gross = TECHNICIAN_GROSS * n_technicians * raise_factor
        if month.month == 12:
            agent_gross *= 1 + YEAR_END_BONUS
            technician_gross *= 1 + YEAR_END_BONUS
        capacity = AGENT_CALLS_PER_BUSINESS_DAY * n_agents * act["business_days"]
        extra_calls = max(0.0, act["handled_calls"] - capacity)
        hourly = AGENT_GROSS * raise_factor / PAID_HOURS_PER_MONTH
        overtime = extra_calls * OVERTIME_HOURS_PER_EXTRA_CALL * hourly * OVERTIME_PREMIUM
        on_call = ON_CALL_WEEK_EUR * act["calendar_days"] / 7 + NIGHT_CALL_EUR * act["night_calls"]
        pay = {CUSTOMER_SERVICE: agent_gross + overtime, FIELD: technician_gross}
        gross = round(sum(pay.values()), 2)
        allowance = round(on_call, 2)
        urssaf = round((gross + allowance) * EMPLOYER_URSSAF, 2)
        pension = round((gross + allowance) * EMPLOYER_PENSION, 2)
        contributions = {s: v for s, v in pay.items()}
        contributions[FIELD] += on_call
        debits = [
            _expense("641100", f"Salaires {label_month}", pay, gross),
            _expense("641400", f"Astreintes {label_month}", {FIELD: 1.0}, allowance),
            _expense("645100", f"Charges URSSAF {label_month}", contributions, urssaf),
            _expense("645300", f"Charges retraite {label_month}", contributions, pension),
        ]
        withheld = round((gross + allowance) * EMPLOYEE_DEDUCTIONS, 2)
        to_urssaf = round(urssaf + withheld * 0.6, 2)
        total = round(sum(line.amount for line in debits), 2)
        net = round(gross + allowance - withheld, 2)
        credits = [
            _Line("421000", 1, net, f"Net à payer {label_month}"),
            _Line("431000", 1, to_urssaf, f"URSSAF {label_month}"),
            _Line("437000", 1, round(total - net - to_urssaf, 2), f"Retraite {label_month}"),
        ]
        payroll_day = clock.last_open_day(start)
        entries.append(
            _Entry("PAIE", month.start_time.date(), last_day, f"PAIE {label_month}",
                   clock.at(payroll_day, 16, 17.75), debits + credits)
        )  # fmt: skip

        # --- supplier invoices billed in advance: telephony, CRM seats, field app, rent
        keyed = clock.nth_open_day(start, int(rng.integers(1, 5)))
        telephony = {
            CUSTOMER_SERVICE: TELEPHONY_TRUNK_EUR + TELEPHONY_AGENT_SEAT_EUR * n_agents,
            FIELD: TECHNICIAN_MOBILE_EUR * n_technicians,
        }
        subscriptions = [
            ("626000", f"Téléphonie {label_month}", telephony, sum(telephony.values()), f"TEL{month:%y%m}"),
            ("651100", f"Licences CRM {label_month}", {CUSTOMER_SERVICE: 1.0}, CRM_SEAT_EUR * n_agents,
             f"CRM{month:%y%m}"),
            ("651100", f"Application terrain {label_month}", {FIELD: 1.0}, FIELD_APP_SEAT_EUR * n_technicians,
             f"APP{month:%y%m}"),
            ("613200", f"Loyer {label_month}", None, RENT_EUR * raise_factor, f"LOY{month:%y%m}"),
        ]  # fmt: skip
        for account, label, shares, amount, reference in subscriptions:
            entries.append(
                _purchase(month.start_time.date(), 1, reference, clock.at(keyed, 9, 12),
                          _expense(account, label, shares, amount), due_days=30)
            )  # fmt: skip

        # --- invoices dated at month end, keyed in the first days of the next month
        next_start = np.datetime64((month + 1).start_time.date(), "D")
        keyed_next = clock.nth_open_day(next_start, int(rng.integers(0, 4)))
        fuel = FUEL_PER_TECHNICIAN_MONTH_EUR * n_technicians * act["business_days"] / 21 * rng.lognormal(0, 0.08)
        entries.append(
            _purchase(month.start_time.date(), last_day, f"CARB{month:%y%m}", clock.at(keyed_next, 9, 12),
                      _expense("606140", f"Carburant {label_month}", {FIELD: 1.0}, fuel), due_days=15)
        )  # fmt: skip
        temp_staff = act["handled_calls"] > TEMP_AGENT_ABOVE * capacity
        if temp_staff:
            entries.append(
                _purchase(month.start_time.date(), last_day, f"INT{month:%y%m}", clock.at(keyed_next, 14, 17),
                          _expense("621100", f"Intérim accueil téléphonique {label_month}", {CUSTOMER_SERVICE: 1.0},
                                   TEMP_AGENT_MONTH_EUR * raise_factor), due_days=30)
            )  # fmt: skip

        # --- a credit note from the telephony operator now and then (billing error refunded)
        credit = 0.0
        if month in credit_note_months:
            credit = round(float(rng.uniform(20, 60)), 2)
            day = int(rng.integers(12, 21))
            keyed_credit = clock.nth_open_day(start + (day - 1), int(rng.integers(0, 3)))
            entries.append(
                _purchase(month.start_time.date(), day, f"AVT{month:%y%m}", clock.at(keyed_credit, 9, 17),
                          _Line("626000", 1, credit, f"Avoir téléphonie {label_month}",
                                ((CUSTOMER_SERVICE, credit),)), due_days=0)
            )  # fmt: skip

        cs_payroll = sum(a for line in debits for s, a in line.sections if s == CUSTOMER_SERVICE)
        truth.append(
            {
                "month": str(month),
                "payroll_eur": round(cs_payroll, 2),
                "telephony_eur": round(telephony[CUSTOMER_SERVICE] - credit, 2),
                "software_eur": round(CRM_SEAT_EUR * n_agents, 2),
                "temp_staff_eur": round(TEMP_AGENT_MONTH_EUR * raise_factor, 2) if temp_staff else 0.0,
                "agent_handled_calls": int(act["handled_calls"]),
            }
        )

    lines, analytic = _tables(entries)
    costs = pd.DataFrame(truth)
    costs["total_eur"] = costs[["payroll_eur", "telephony_eur", "software_eur", "temp_staff_eur"]].sum(axis=1).round(2)
    return GeneralLedger(lines=lines, analytic=analytic, periods=_periods(lines, clock), customer_service_costs=costs)


def _purchase(
    period: date, day: int, reference: str, keyed_utc: np.datetime64, expense: _Line, due_days: int
) -> _Entry:
    """A supplier invoice (or credit note: the expense line on the credit side): expense, VAT, supplier."""
    vat = round(expense.amount * VAT, 2)
    debit = expense.sens == 0
    due = (pd.Timestamp(period) + pd.Timedelta(days=day - 1 + due_days)).date()
    return _Entry(
        "ACH",
        period,
        day,
        reference,
        keyed_utc,
        [
            expense,
            _Line("445660", 0 if debit else 1, vat, expense.label),
            _Line("401000", 1 if debit else 0, round(expense.amount + vat, 2), expense.label, due=due),
        ],
    )


def _tables(entries: list[_Entry]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ledger lines in keying order (EC_No follows it) and their analytic split."""
    entries = sorted(entries, key=lambda e: (e.keyed_utc, e.journal, e.reference))
    rows, analytic = [], []
    pieces: dict[str, int] = {}
    for entry in entries:
        pieces[entry.journal] = pieces.get(entry.journal, 0) + 1
        piece = f"{entry.journal}{entry.period:%y%m}{pieces[entry.journal]:04d}"
        for line in entry.lines:
            line_no = len(rows)
            rows.append(
                {
                    "line_no": line_no,
                    "journal": entry.journal,
                    "period": np.datetime64(entry.period, "D"),
                    "day": entry.day,
                    "piece": piece,
                    "reference": entry.reference,
                    "account": line.account,
                    "label": line.label[:69],
                    "sens": line.sens,
                    "amount": line.amount,
                    "due": np.datetime64(line.due, "D") if line.due else np.datetime64("NaT"),
                    "keyed_utc": entry.keyed_utc,
                }
            )
            for position, (section, amount) in enumerate(line.sections, start=1):
                analytic.append({"line_no": line_no, "position": position, "section": section, "amount": amount})
    return pd.DataFrame(rows), pd.DataFrame(analytic, columns=["line_no", "position", "section", "amount"])


def _periods(lines: pd.DataFrame, clock: _Calendar) -> pd.DataFrame:
    """One row per journal and month that has entries: opened with its first entry, closed on the 10th after."""
    periods = lines.groupby(["journal", "period"], as_index=False).agg(opened_utc=("keyed_utc", "min"))
    closing = []
    for period in periods["period"].to_numpy():
        next_start = (period.astype("datetime64[M]") + 1).astype("datetime64[D]")
        day = clock.open_days(next_start + (CLOSING_DAY - 1), next_start + 40)[0]
        closing.append(clock.at(day, 17, 18))
    periods["closed_utc"] = np.array(closing, dtype="datetime64[s]")
    return periods
