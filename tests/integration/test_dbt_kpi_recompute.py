"""KPI values recomputed independently in pandas from what the simulators exported (the CDR
files in the landing folder, the CRM and app SQLite stores, the Sage tables), compared with
the marts dbt built from the warehouse the loaders filled. Two implementations of the same
definitions (DECISIONLOG.md) that share no code."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


PARIS = ZoneInfo("Europe/Paris")
COMPANY_LINE = "+33478650200"
# Lines the CTI loader quarantines: their files cannot be compared line for line.
QUARANTINED_KINDS = {"malformed_missing_field", "malformed_non_numeric_seconds", "malformed_impossible_date"}
FR_HOLIDAYS = holidays.country_holidays("FR", years=range(2024, 2028))


# ------------------------------------------------------------------------------- the sources
@pytest.fixture(scope="module")
def cdr(dbt_world: DbtWorld) -> pd.DataFrame:
    """Every line of every clean CDR file delivered (a re-delivery counted once; a cut file
    by its complete re-delivery). Windows-1252 files are clean data."""
    with open(dbt_world.truth_dir / "cti_defects.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    defective = {r["file"] for r in truth if r["kind"] in QUARANTINED_KINDS}
    completed = {r["file"].replace("_resend", "") for r in truth if r["kind"] == "corrected_redelivery"}
    frames = []
    for path in sorted(dbt_world.landing_dir.glob("cdr_*.csv")):
        if "_" in path.stem.removeprefix("cdr_") or path.name in defective:
            continue  # cdr_YYYYMMDD_resend.csv repeats cdr_YYYYMMDD.csv
        if path.name in completed:
            path = path.with_name(path.name.replace(".csv", "_resend.csv"))
            if not path.exists():
                continue  # the complete file is not delivered yet
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        frame = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False, usecols=range(12))
        frame["file_day"] = datetime.strptime(path.stem[4:12], "%Y%m%d").date()
        frames.append(frame)
    calls = pd.concat(frames, ignore_index=True)
    calls["start"] = pd.to_datetime(calls["start_time"])
    calls["day"] = calls["start"].dt.date
    calls["wait"] = calls["wait_seconds"].astype(int)
    calls["talk"] = calls["talk_seconds"].astype(int)
    return calls


def _json_store(path, table_sql: str) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(table_sql).fetchall()
    return pd.DataFrame([json.loads(r[0]) for r in rows])


@pytest.fixture(scope="module")
def crm(dbt_world: DbtWorld) -> dict[str, pd.DataFrame]:
    store = dbt_world.data_dir / "crm.sqlite"
    return {
        kind: _json_store(store, f"select properties from objects where object_type = '{kind}' and archived = 0")
        for kind in ("contacts", "tickets", "feedback_submissions")
    }


def _paris(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_convert(PARIS)


def _month(values: pd.Series) -> pd.Series:
    return _paris(values).dt.strftime("%Y-%m")


def _mart(dbt_world: DbtWorld, sql: str, params=None):
    return dbt_world.query(sql, params)[0]


# ------------------------------------------------------------------- business hours, in pandas
def business_hours(start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Hours of [start, end) inside Mon-Fri 08:00-18:00 Paris, French holidays closed (wall time)."""
    start, end = start.tz_convert(PARIS), end.tz_convert(PARIS)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if day.weekday() < 5 and day not in FR_HOLIDAYS:
            opens = pd.Timestamp(datetime.combine(day, time(8)), tz=PARIS)
            closes = pd.Timestamp(datetime.combine(day, time(18)), tz=PARIS)
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(overlap, 0.0)
        day += timedelta(days=1)
    return total / 3600


# ------------------------------------------------------------------------------------ calls
def test_calls_per_day_equal_the_cdr_lines_of_every_clean_day(dbt_world: DbtWorld, cdr: pd.DataFrame):
    expected = cdr.groupby("day").size()
    mart = dict(dbt_world.query("select kpi_date, calls_per_day from marts.mart_kpi_daily"))
    assert len(expected) > 300
    different = {d: (n, mart.get(d)) for d, n in expected.items() if mart.get(d) != n}
    assert different == {}
    # ml_daily_calls is the same series
    ml = dict(dbt_world.query("select ds, y from marts.ml_daily_calls"))
    assert all(ml[d] == n for d, n in expected.items())


def _offered(calls: pd.DataFrame) -> pd.DataFrame:
    local = calls["start"]
    open_day = local.dt.date.map(lambda d: d.weekday() < 5 and d not in FR_HOLIDAYS)
    in_hours = (local.dt.hour >= 8) & (local.dt.hour < 18)
    return calls[(calls["direction"] == "inbound") & (calls["called_number"] == COMPANY_LINE) & open_day & in_hours]


def test_abandonment_and_service_level_of_a_week(dbt_world: DbtWorld, cdr: pd.DataFrame):
    days_present = set(cdr["day"])
    weeks = sorted({d - timedelta(days=d.weekday()) for d in days_present})
    full = [w for w in weeks if all(w + timedelta(days=i) in days_present for i in range(7))]
    week = full[len(full) // 2]
    calls = cdr[(cdr["day"] >= week) & (cdr["day"] < week + timedelta(days=7))]
    offered = _offered(calls)
    abandoned = offered["outcome"] != "answered"
    within = (offered["outcome"] == "answered") & (offered["wait"] <= 20)
    rate, level, n_offered = _mart(
        dbt_world,
        "select abandonment_rate, service_level, offered_calls from marts.mart_kpi_weekly where week_start = %s",
        (week,),
    )
    assert n_offered == len(offered) > 0
    assert float(rate) == pytest.approx(abandoned.mean(), abs=5e-5)
    assert float(level) == pytest.approx(within.mean(), abs=5e-5)


def test_average_handle_time_of_a_day(dbt_world: DbtWorld, cdr: pd.DataFrame):
    day = sorted(set(cdr["day"]))[len(set(cdr["day"])) // 3]
    calls = cdr[(cdr["day"] == day) & (cdr["outcome"] == "answered")]
    handled = calls[(calls["called_number"] == COMPANY_LINE) | (calls["caller_number"] == COMPANY_LINE)]
    (aht,) = _mart(dbt_world, "select avg_handle_seconds from marts.mart_kpi_daily where kpi_date = %s", (day,))
    assert float(aht) == pytest.approx(handled["talk"].mean(), abs=0.0501)  # rounded to 0.1 s


# ---------------------------------------------------------------------------------- tickets
def test_first_contact_resolution_and_first_reply_of_a_month(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    tickets = crm["tickets"]
    month = "2026-03"
    of_month = tickets[_month(tickets["createdate"]) == month].copy()
    fcr = (
        (of_month["hs_pipeline_stage"] == "4")
        & (of_month["nb_agent_replies"].astype(int) == 1)
        & (of_month["nb_reopens"].astype(int) == 0)
    )
    replied = of_month[of_month["first_agent_reply_date"].notna()]
    hours = [
        business_hours(c, r)
        for c, r in zip(_paris(replied["createdate"]), _paris(replied["first_agent_reply_date"]), strict=True)
    ]
    calendar = (_paris(replied["first_agent_reply_date"]) - _paris(replied["createdate"])).dt.total_seconds() / 3600
    rate, reply_bh, created = _mart(
        dbt_world,
        "select first_contact_resolution_rate, avg_first_reply_business_hours, tickets_created "
        "from marts.mart_kpi_monthly where month_start = %s",
        (date(2026, 3, 1),),
    )
    assert created == len(of_month) > 100
    assert float(rate) == pytest.approx(fcr.mean(), abs=5e-5)
    assert float(reply_bh) == pytest.approx(np.mean(hours), abs=0.006)
    # business hours are shorter than calendar hours, and differ from them (nights, weekends)
    (calendar_mean,) = _mart(
        dbt_world,
        "select sum(first_reply_calendar_hours) / count(first_reply_calendar_hours) from marts.fct_tickets "
        "where created_date between '2026-03-01' and '2026-03-31'",
    )
    assert float(calendar_mean) == pytest.approx(calendar.mean(), abs=0.01)
    assert float(reply_bh) < float(calendar_mean)


# ---------------------------------------------------------------------------------- surveys
def test_nps_of_a_quarter_and_of_its_months(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    answers = crm["feedback_submissions"]
    nps = answers[answers["hs_survey_type"] == "NPS"].copy()
    nps["month"] = _month(nps["hs_submission_timestamp"])
    nps["score"] = nps["hs_response_value"].astype(int)
    quarter = nps[nps["month"].isin(["2026-01", "2026-02", "2026-03"])]

    def score(frame: pd.DataFrame) -> float:
        return 100 * ((frame["score"] >= 9).sum() - (frame["score"] <= 6).sum()) / len(frame)

    promoters, detractors, responses = _mart(
        dbt_world,
        "select sum(nps_promoters), sum(nps_detractors), sum(nps_responses) from marts.mart_kpi_daily "
        "where kpi_date between '2026-01-01' and '2026-03-31'",
    )
    assert responses == len(quarter) > 20
    assert float(100 * (promoters - detractors) / responses) == pytest.approx(score(quarter), abs=1e-9)
    monthly = dict(dbt_world.query(
        "select to_char(month_start, 'YYYY-MM'), nps from marts.mart_kpi_monthly "
        "where month_start between '2026-01-01' and '2026-03-01'"
    ))  # fmt: skip
    for month, frame in quarter.groupby("month"):
        assert float(monthly[month]) == pytest.approx(round(score(frame), 1), abs=0.05)


def test_average_satisfaction_of_a_month(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    answers = crm["feedback_submissions"]
    csat = answers[(answers["hs_survey_type"] == "CSAT") & (_month(answers["hs_submission_timestamp"]) == "2026-05")]
    (avg,) = _mart(dbt_world, "select avg_satisfaction from marts.mart_kpi_monthly where month_start = '2026-05-01'")
    assert len(csat) > 20
    assert float(avg) == pytest.approx(csat["hs_response_value"].astype(int).mean(), abs=0.006)


# ------------------------------------------------------------------------- lost customers
def test_lost_customers_of_a_month(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    contacts = crm["contacts"]
    lost = contacts[(contacts["statut_client"] == "perdu") & contacts["date_perte"].notna()]
    per_month = pd.to_datetime(lost["date_perte"], utc=True).dt.strftime("%Y-%m").value_counts()
    mart = {
        m: n
        for m, n in dbt_world.query(
            "select to_char(month_start, 'YYYY-MM'), lost_customers from marts.mart_kpi_monthly"
        )
    }
    busiest = per_month.idxmax()
    assert per_month[busiest] > 0 and mart[busiest] == per_month[busiest]
    assert sum(mart.values()) == sum(n for m, n in per_month.items() if m in mart)


# ------------------------------------------------------------------- field-quote revenue
def test_field_quote_revenue_of_a_month(dbt_world: DbtWorld):
    store = dbt_world.data_dir / "mobile_app.sqlite"
    with sqlite3.connect(store) as conn:
        quotes = pd.DataFrame([json.loads(r[0]) for r in conn.execute('select payload from "field-quotes"')])
    with psycopg.connect(dbt_world.erp_url) as conn:
        sage = dict(
            conn.execute(
                """select "DO_Ref", "DO_TotalHT" from dbo."F_DOCENTETE" where "DO_Piece" like 'DE%%' and "DO_Ref" <> ''"""
            ).fetchall()
        )
    accepted = quotes[quotes["status"] == "accepted"].copy()
    accepted["month"] = _month(accepted["decided_at"])
    # the Sage amount once the field quote became a Sage quote, the app's before
    accepted["amount"] = [float(sage.get(i, a)) for i, a in zip(accepted["id"], accepted["amount_ht"], strict=True)]
    expected = accepted.groupby("month")["amount"].sum()
    mart = dict(
        dbt_world.query("select to_char(month_start, 'YYYY-MM'), field_quote_revenue_eur from marts.mart_kpi_monthly")
    )
    month = expected.index[len(expected) // 2]
    assert expected[month] > 0
    assert float(mart[month]) == pytest.approx(expected[month], abs=0.01)
    assert sum(float(v) for v in mart.values()) == pytest.approx(expected[expected.index.isin(mart)].sum(), abs=0.05)
