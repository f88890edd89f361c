"""Every KPI of the specification recomputed independently in pandas from what the simulators
exported (the CDR files in the landing folder, the CRM and app SQLite stores, the Sage tables),
compared with the marts dbt built from the warehouse the loaders filled. Two implementations of
the same definitions (DECISIONLOG.md) that share no code.

Nothing is skipped: days whose CDR file had defective lines or was delivered twice are
recomputed with the loader's documented rules (cs_analytics/ingest/cti.py: a line that is not
UTF-8, has the wrong field count, a non-numeric duration, an impossible or non-existent time, an
empty or repeated call id is quarantined and the rest of the file loads; a file delivered again
with the same bytes counts once), and a day whose file has not arrived has no calls."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.integration.dbt_world import END_DATE, DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


PARIS = ZoneInfo("Europe/Paris")
COMPANY_LINE = "+33478650200"
WRITTEN_SOURCES = {"EMAIL", "FORM"}  # HubSpot source_type of e-mails and portal forms
CHANNEL_OF_SOURCE = {"PHONE": "phone", "EMAIL": "email", "FORM": "portal"}
CUSTOMER_SERVICE_SECTION = "SERVCLIENT"
FR_HOLIDAYS = holidays.country_holidays("FR", years=range(2024, 2028))
CDR_FILE = re.compile(r"^cdr_(\d{8})(?:_[A-Za-z0-9-]+)?\.csv$")


# ------------------------------------------------------------------------------- the sources
def _valid_local_time(text: str) -> bool:
    """A real wall time in Paris: parses, and is not in the spring-forward gap."""
    try:
        wall = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    back = wall.replace(tzinfo=PARIS).astimezone(UTC).astimezone(PARIS).replace(tzinfo=None)
    return back == wall


def read_cdr_file(content: bytes) -> list[dict[str, str]]:
    """The lines of one CDR file the loader keeps, by its documented rules: UTF-8, or
    Windows-1252 when the file is not UTF-8 (both are valid exports); a last line without
    a terminator was cut and is left out."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252")
    lines = text.split("\n")
    lines.pop()  # after the last terminator, or the cut last line
    header = lines[0].strip().split(";")
    kept, seen = [], set()
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(";")
        if len(fields) != len(header):
            continue
        row = dict(zip(header, fields, strict=True))
        if not row["call_id"] or row["call_id"] in seen:
            continue
        if not (row["wait_seconds"].isdigit() and row["talk_seconds"].isdigit()):
            continue
        if not (_valid_local_time(row["start_time"]) and _valid_local_time(row["end_time"])):
            continue
        seen.add(row["call_id"])
        kept.append(row)
    return kept


@pytest.fixture(scope="module")
def cdr_days(dbt_world: DbtWorld) -> set[date]:
    """Days whose CDR file is in the landing folder."""
    return {
        datetime.strptime(m.group(1), "%Y%m%d").date()
        for p in dbt_world.landing_dir.glob("cdr_*.csv")
        if (m := CDR_FILE.match(p.name))
    }


@pytest.fixture(scope="module")
def cdr(dbt_world: DbtWorld) -> pd.DataFrame:
    """Every call the delivered CDR files hold, each day once, defective lines left out."""
    by_day: dict[date, list[bytes]] = defaultdict(list)
    for path in sorted(dbt_world.landing_dir.glob("cdr_*.csv")):  # cdr_D.csv before cdr_D_resend.csv
        m = CDR_FILE.match(path.name)
        by_day[datetime.strptime(m.group(1), "%Y%m%d").date()].append(path.read_bytes())
    # a re-delivery is the day's file again (the same bytes, or a cut file complete): the last one delivered counts
    rows = [row for contents in by_day.values() for row in read_cdr_file(contents[-1])]
    calls = pd.DataFrame(rows)
    calls["start"] = pd.to_datetime(calls["start_time"])
    calls["day"] = calls["start"].dt.date
    calls["wait"] = calls["wait_seconds"].astype(int)
    calls["talk"] = calls["talk_seconds"].astype(int)
    calls["day_line"] = (calls["called_number"] == COMPANY_LINE) | (calls["caller_number"] == COMPANY_LINE)
    calls["answered"] = calls["outcome"] == "answered"
    return calls


def _json_store(path: Path, table_sql: str) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(table_sql).fetchall()
    return pd.DataFrame([json.loads(r[0]) for r in rows])


@pytest.fixture(scope="module")
def crm(dbt_world: DbtWorld) -> dict[str, pd.DataFrame]:
    store = dbt_world.data_dir / "crm.sqlite"
    objects = {
        kind: _json_store(store, f"select properties from objects where object_type = '{kind}' and archived = 0")
        for kind in ("contacts", "tickets", "feedback_submissions", "p_survey_invitations")
    }
    with sqlite3.connect(store) as conn:
        objects["owners"] = pd.DataFrame(
            conn.execute("select id, first_name, last_name from owners where archived = 0").fetchall(),
            columns=["id", "first_name", "last_name"],
        )
    return objects


@pytest.fixture(scope="module")
def tickets(crm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """CRM tickets with Paris instants, channel and business-hour durations."""
    t = crm["tickets"].copy()
    t["created"] = _paris(t["createdate"])
    t["replied"] = _paris(t["first_agent_reply_date"])
    t["closed"] = _paris(t["closed_date"])
    t["day"] = t["created"].dt.date
    t["channel"] = t["source_type"].map(CHANNEL_OF_SOURCE)
    t["written"] = t["source_type"].isin(WRITTEN_SOURCES)
    t["reply_hours"] = [
        business_hours(c, r) if pd.notna(r) else np.nan for c, r in zip(t["created"], t["replied"], strict=True)
    ]
    t["resolution_hours"] = [
        business_hours(c, e) if pd.notna(e) else np.nan for c, e in zip(t["created"], t["closed"], strict=True)
    ]
    t["is_fcr"] = (
        (t["hs_pipeline_stage"] == "4") & (t["nb_agent_replies"].astype(int) == 1) & (t["nb_reopens"].astype(int) == 0)
    )
    return t


@pytest.fixture(scope="module")
def app(dbt_world: DbtWorld) -> dict[str, pd.DataFrame]:
    store = dbt_world.data_dir / "mobile_app.sqlite"
    return {r: _json_store(store, f'select payload from "{r}"') for r in ("interventions", "field-quotes")}


def _sage(dbt_world: DbtWorld, query: str) -> pd.DataFrame:
    with psycopg.connect(dbt_world.erp_url) as conn:
        cur = conn.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def _paris(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_convert(PARIS)


def _month(values: pd.Series) -> pd.Series:
    return _paris(values).dt.strftime("%Y-%m")


def _mart(dbt_world: DbtWorld, sql: str, params=None):
    return dbt_world.query(sql, params)[0]


def _utc_naive(values: pd.Series) -> np.ndarray:
    """Aware instants as naive UTC datetime64 (NaT kept), for vectorised comparisons."""
    return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def _monthly(dbt_world: DbtWorld, *columns: str) -> dict[str, tuple]:
    """mart_kpi_monthly by 'YYYY-MM': the columns asked for, numerics as floats."""
    rows = dbt_world.query(f"select to_char(month_start, 'YYYY-MM'), {', '.join(columns)} from marts.mart_kpi_monthly")
    return {m: tuple(_num(v) if isinstance(v, Decimal) else v for v in values) for m, *values in rows}


def _num(value) -> float | None:
    return None if value is None else float(value)


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


def _day_end(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day + timedelta(days=1), time(0)), tz=PARIS)


# ------------------------------------------------------------------------------------ calls
def test_calls_per_day_equal_the_cdr_lines_of_every_day(dbt_world: DbtWorld, cdr: pd.DataFrame, cdr_days: set[date]):
    """Every day, the days with quarantined lines and re-delivered files included; a day whose file
    has not arrived counts no call."""
    expected = cdr.groupby("day").size()
    mart = dict(dbt_world.query("select kpi_date, calls_per_day from marts.mart_kpi_daily"))
    assert len(mart) > 300
    different = {d: (expected.get(d, 0), n) for d, n in mart.items() if expected.get(d, 0) != n}
    assert different == {}
    assert all(d in mart for d in expected.index)
    # the defects are really in this world: quarantined lines and a re-delivered file
    defects = pd.read_csv(dbt_world.truth_dir / "cti_defects.csv", dtype=str)
    assert {"windows1252_file", "redelivery", "malformed_missing_field"} <= set(defects["kind"])
    # ml_daily_calls is the same series
    ml = dict(dbt_world.query("select ds, y from marts.ml_daily_calls"))
    assert all(ml[d] == expected.get(d, 0) for d in mart)


def _offered(calls: pd.DataFrame) -> pd.DataFrame:
    local = calls["start"]
    open_day = local.dt.date.map(lambda d: d.weekday() < 5 and d not in FR_HOLIDAYS)
    in_hours = (local.dt.hour >= 8) & (local.dt.hour < 18)
    return calls[(calls["direction"] == "inbound") & (calls["called_number"] == COMPANY_LINE) & open_day & in_hours]


def test_abandonment_and_service_level_of_every_week(dbt_world: DbtWorld, cdr: pd.DataFrame):
    offered = _offered(cdr).copy()
    offered["week"] = offered["day"].map(lambda d: d - timedelta(days=d.weekday()))
    offered["abandoned"] = ~offered["answered"]
    offered["within"] = offered["answered"] & (offered["wait"] <= 20)
    expected = offered.groupby("week").agg(n=("day", "size"), abandoned=("abandoned", "mean"), level=("within", "mean"))
    mart = {
        w: (n, _num(r), _num(s))
        for w, n, r, s in dbt_world.query(
            "select week_start, offered_calls, abandonment_rate, service_level from marts.mart_kpi_weekly"
        )
    }
    assert len(expected) > 40
    for week, row in expected.iterrows():
        n, rate, level = mart[week]
        assert n == row["n"], week
        assert rate == pytest.approx(row["abandoned"], abs=5e-5), week
        assert level == pytest.approx(row["level"], abs=5e-5), week


def test_average_handle_time_of_every_day(dbt_world: DbtWorld, cdr: pd.DataFrame):
    handled = cdr[cdr["answered"] & cdr["day_line"]]
    expected = handled.groupby("day")["talk"].mean()
    mart = dict(dbt_world.query("select kpi_date, avg_handle_seconds from marts.mart_kpi_daily"))
    # the mart rounds to 0.1 s
    assert {d: _num(mart[d]) for d in expected.index} == pytest.approx(expected.to_dict(), abs=0.0501)


def test_agent_handle_time_and_service_level_of_every_agent_day(
    dbt_world: DbtWorld, cdr: pd.DataFrame, crm: dict[str, pd.DataFrame]
):
    """mart_kpi_agent_daily: the CDR's extension is the agent, named as the CRM owner is."""
    owners = crm["owners"]
    owner_of_name = {f"{f} {la}".lower(): i for i, f, la in owners.itertuples(index=False)}
    handled = cdr[cdr["answered"] & cdr["day_line"]].copy()
    handled["agent"] = handled["agent_name"].str.lower().map(owner_of_name)
    assert handled["agent"].notna().all()
    inbound = handled["direction"] == "inbound"
    handled["inbound"] = inbound
    handled["within"] = inbound & (handled["wait"] <= 20)
    expected = handled.groupby(["day", "agent"]).agg(
        calls=("talk", "size"), aht=("talk", "mean"), inbound=("inbound", "sum"), within=("within", "sum")
    )
    mart = {
        (d, a): (n, _num(aht), _num(level))
        for d, a, n, aht, level in dbt_world.query(
            "select kpi_date, agent_id, calls_handled, avg_handle_seconds, service_level "
            "from marts.mart_kpi_agent_daily where calls_handled > 0"
        )
    }
    assert len(expected) > 500 and set(mart) == set(expected.index)
    for key, row in expected.iterrows():
        n, aht, level = mart[key]
        assert n == row["calls"], key
        assert aht == pytest.approx(row["aht"], abs=0.0501), key
        if row["inbound"]:
            assert level == pytest.approx(row["within"] / row["inbound"], abs=5e-5), key
        else:
            assert level is None, key


# ---------------------------------------------------------------------------------- tickets
def test_response_time_headline_is_the_written_channels_and_each_channel_is_published(
    dbt_world: DbtWorld, tickets: pd.DataFrame
):
    """Temps réponse moyen: business hours from creation to the first reply, on e-mails and portal
    forms (a ticket settled during a phone call is not a 0-hour written reply), per channel too."""
    replied = tickets[tickets["replied"].notna()].copy()
    replied["month"] = replied["created"].dt.strftime("%Y-%m")
    monthly = dict(
        dbt_world.query(
            "select to_char(month_start, 'YYYY-MM'), avg_first_reply_business_hours from marts.mart_kpi_monthly"
        )
    )
    written = replied[replied["written"]].groupby("month")["reply_hours"].mean()
    assert len(written) >= 12
    assert {m: _num(monthly[m]) for m in written.index} == pytest.approx(written.to_dict(), abs=0.0051)
    # per channel and day, and the daily headline, for every day
    channel_days = {
        (d, c): (n, _num(avg))
        for d, c, n, avg in dbt_world.query(
            "select kpi_date, channel_code, tickets_replied, avg_first_reply_business_hours "
            "from marts.mart_kpi_channel_daily"
        )
    }
    per_channel = replied.groupby(["day", "channel"])["reply_hours"].agg(["size", "mean"])
    for key, row in per_channel.iterrows():
        n, avg = channel_days[key]
        assert n == row["size"] and avg == pytest.approx(row["mean"], abs=0.0051), key
    daily = dict(dbt_world.query("select kpi_date, avg_first_reply_business_hours from marts.mart_kpi_daily"))
    written_daily = replied[replied["written"]].groupby("day")["reply_hours"].mean()
    assert {d: _num(daily[d]) for d in written_daily.index} == pytest.approx(written_daily.to_dict(), abs=0.0051)
    # the phone tickets settled on the call really are there, and would have flattered the headline
    phone = replied[replied["channel"] == "phone"]
    assert (phone["reply_hours"] == 0).sum() > 100
    assert replied["reply_hours"].mean() < replied[replied["written"]]["reply_hours"].mean()


def test_resolution_time_of_every_month(dbt_world: DbtWorld, tickets: pd.DataFrame):
    """Temps résolution moyen: business hours from creation to closing, tickets closed in the period."""
    closed = tickets[tickets["closed"].notna()].copy()
    closed["month"] = closed["closed"].dt.strftime("%Y-%m")
    expected = closed.groupby("month")["resolution_hours"].mean()
    mart = _monthly(
        dbt_world, "avg_resolution_business_hours", "resolution_target_hours", "is_avg_resolution_on_target"
    )
    assert len(expected) >= 12
    for month, hours in expected.items():
        value, target, on_target = mart[month]
        assert value == pytest.approx(hours, abs=0.0051), month
        assert target == 4 and on_target == (value < 4), month


def test_first_contact_resolution_of_every_month(dbt_world: DbtWorld, tickets: pd.DataFrame):
    t = tickets.assign(month=tickets["created"].dt.strftime("%Y-%m"))
    expected = t.groupby("month").agg(n=("is_fcr", "size"), rate=("is_fcr", "mean"))
    mart = _monthly(dbt_world, "tickets_created", "first_contact_resolution_rate")
    for month, row in expected.iterrows():
        assert mart[month][0] == row["n"] and mart[month][1] == pytest.approx(row["rate"], abs=5e-5), month


def test_tickets_open_over_24_hours_at_the_end_of_every_day(dbt_world: DbtWorld, tickets: pd.DataFrame):
    """Tickets > 24h: not closed at midnight ending the day and created more than 24 hours before."""
    mart = dict(dbt_world.query("select kpi_date, tickets_open_over_24h from marts.mart_kpi_daily"))
    created = _utc_naive(tickets["created"])
    closed = np.where(
        np.isnat(_utc_naive(tickets["closed"])), np.datetime64("2100-01-01"), _utc_naive(tickets["closed"])
    )
    expected = {}
    for day in mart:
        end = _utc_naive(pd.Series([_day_end(day)]))[0]
        expected[day] = int(((created < end) & (closed >= end) & (created + np.timedelta64(24, "h") < end)).sum())
    assert max(expected.values()) > 5
    assert {d: mart[d] for d in expected} == expected


def test_the_last_day_is_provisional_and_its_ticket_alerts_wait(
    dbt_world: DbtWorld, tickets: pd.DataFrame, cdr_days: set[date]
):
    """A day is complete when its CDR file is in and every ticket created that day has its first
    reply and is closed, at the end of the as-of day. The first-contact-resolution alert waits for
    the day's tickets to close, the first-reply alert for its e-mails and forms to be answered, the
    overload alert for the CDR file: none fires on figures that can still change."""
    rows = dbt_world.query(
        "select kpi_date, is_complete_day, is_calls_loaded, tickets_still_open, is_first_contact_resolution_alert, "
        "is_first_reply_alert, first_contact_resolution_rate, avg_first_reply_business_hours, is_call_overload, "
        "calls_per_day from marts.mart_kpi_daily order by kpi_date"
    )
    as_of_end = _day_end(END_DATE)
    open_at_end = tickets[tickets["closed"].isna() | (tickets["closed"] >= as_of_end)]
    unanswered = tickets[tickets["replied"].isna() | (tickets["replied"] >= as_of_end)]
    still_open = open_at_end.groupby("day").size()
    written_unanswered = set(unanswered.loc[unanswered["written"], "day"])
    unsettled_days = set(still_open.index) | set(unanswered["day"])
    expected = {d: d in cdr_days and d not in unsettled_days for d, *_ in rows}
    assert {d: complete for d, complete, *_ in rows} == expected
    assert {d: loaded for d, _, loaded, *_ in rows} == {d: d in cdr_days for d, *_ in rows}
    assert {d: n for d, _, _, n, *_ in rows} == {d: int(still_open.get(d, 0)) for d, *_ in rows}
    assert sum(expected.values()) > 300 and not all(expected.values())
    last = rows[-1]
    assert last[0] == END_DATE and last[1] is False and last[3] > 0
    # the last day's FCR is low only because its tickets are open: no alert on it
    assert _num(last[6]) < 0.70 and last[4] is False
    for day, _, loaded, _, fcr_alert, reply_alert, fcr, reply, overload, calls in rows:
        assert fcr_alert == (day not in still_open.index and fcr is not None and _num(fcr) < 0.70), day
        assert reply_alert == (day not in written_unanswered and reply is not None and _num(reply) > 4), day
        assert overload == (loaded and calls > 70), day
    # provisional alerts are really held back: some day has a low FCR only while tickets are open
    assert any(_num(r[6]) is not None and _num(r[6]) < 0.70 and not r[4] for r in rows if r[3] > 0)


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


def test_average_satisfaction_of_every_month(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    answers = crm["feedback_submissions"]
    csat = answers[answers["hs_survey_type"] == "CSAT"].copy()
    csat["month"] = _month(csat["hs_submission_timestamp"])
    expected = csat.groupby("month")["hs_response_value"].apply(lambda v: v.astype(int).mean())
    mart = dict(dbt_world.query("select to_char(month_start, 'YYYY-MM'), avg_satisfaction from marts.mart_kpi_monthly"))
    assert len(expected) >= 12
    assert {m: _num(mart[m]) for m in expected.index} == pytest.approx(expected.to_dict(), abs=0.0051)


def test_survey_response_rate_of_every_week(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    """Taux réponse questionnaire: of the surveys sent in the week, the share answered. An answer
    belongs to the latest invitation of its type sent to the contact before it (same ticket for a
    CSAT); an invitation answered twice counts once."""
    invitations = crm["p_survey_invitations"].copy()
    invitations["sent"] = pd.to_datetime(invitations["sent_at"], utc=True)
    answers = crm["feedback_submissions"].copy()
    answers["at"] = pd.to_datetime(answers["hs_submission_timestamp"], utc=True)
    key = lambda frame, kind: list(  # noqa: E731
        zip(frame[kind], frame["hs_contact_id"], frame["hs_ticket_id"].fillna(""), strict=True)
    )
    invitations["key"] = key(invitations, "survey_type")
    answers["key"] = key(answers, "hs_survey_type")
    sent_by_key = invitations.sort_values("sent").groupby("key")
    answered = set()
    for k, at in zip(answers["key"], answers["at"], strict=True):
        if k not in sent_by_key.groups:
            continue
        candidates = sent_by_key.get_group(k)
        before = candidates[candidates["sent"] <= at]
        if len(before):
            answered.add(before.index[-1])
    invitations["answered"] = invitations.index.isin(answered)
    local = invitations["sent"].dt.tz_convert(PARIS).dt.date
    invitations["week"] = local.map(lambda d: d - timedelta(days=d.weekday()))
    expected = invitations.groupby("week").agg(sent=("answered", "size"), rate=("answered", "mean"))
    mart = {
        w: (n, _num(r))
        for w, n, r in dbt_world.query(
            "select week_start, survey_invitations_sent, survey_response_rate from marts.mart_kpi_weekly"
        )
    }
    assert len(expected) > 40
    for week, row in expected.iterrows():
        assert mart[week][0] == row["sent"] and mart[week][1] == pytest.approx(row["rate"], abs=5e-5), week


# ------------------------------------------------------------------------- lost customers
def test_lost_customers_of_every_month(dbt_world: DbtWorld, crm: dict[str, pd.DataFrame]):
    contacts = crm["contacts"]
    lost = contacts[(contacts["statut_client"] == "perdu") & contacts["date_perte"].notna()]
    per_month = pd.to_datetime(lost["date_perte"], utc=True).dt.strftime("%Y-%m").value_counts()
    mart = dict(dbt_world.query("select to_char(month_start, 'YYYY-MM'), lost_customers from marts.mart_kpi_monthly"))
    busiest = per_month.idxmax()
    assert per_month[busiest] > 0 and mart[busiest] == per_month[busiest]
    assert sum(mart.values()) == sum(n for m, n in per_month.items() if m in mart)


# --------------------------------------------------------------------------- bookings
def test_online_booking_share_of_every_month(dbt_world: DbtWorld, app: dict[str, pd.DataFrame]):
    """RDV pris en ligne (%): visits booked on the portal / all visits booked, by booking day."""
    first_day, last_day = _mart(dbt_world, "select min(kpi_date), max(kpi_date) from marts.mart_kpi_daily")
    visits = app["interventions"].copy()
    booked = _paris(visits["created_at"]).dt.date
    visits = visits[(booked >= first_day) & (booked <= last_day)].copy()  # the days the mart covers
    visits["month"] = _month(visits["created_at"])
    visits["online"] = visits["booked_via"] == "portal"
    expected = visits.groupby("month").agg(n=("online", "size"), share=("online", "mean"))
    mart = _monthly(dbt_world, "interventions_booked", "online_booking_share")
    checked = [m for m in expected.index if m in mart]
    assert len(checked) >= 12
    for month in checked:
        assert mart[month][0] == expected.loc[month, "n"], month
        assert mart[month][1] == pytest.approx(expected.loc[month, "share"], abs=5e-5), month


# ------------------------------------------------------------------- field-quote revenue
def _field_quote_revenue(dbt_world: DbtWorld, app: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Accepted field quotes with the Sage amount once the quote is in Sage, the app's before."""
    sage = _sage(
        dbt_world,
        """select "DO_Ref", "DO_TotalHT" from dbo."F_DOCENTETE" where "DO_Piece" like 'DE%%' and "DO_Ref" <> ''""",
    )
    amounts = dict(zip(sage["DO_Ref"], sage["DO_TotalHT"], strict=True))
    quotes = app["field-quotes"]
    accepted = quotes[quotes["status"] == "accepted"].copy()
    accepted["month"] = _month(accepted["decided_at"])
    accepted["day"] = _paris(accepted["decided_at"]).dt.date
    accepted["amount"] = [float(amounts.get(i, a)) for i, a in zip(accepted["id"], accepted["amount_ht"], strict=True)]
    return accepted


def test_field_quote_revenue_of_a_month(dbt_world: DbtWorld, app: dict[str, pd.DataFrame]):
    accepted = _field_quote_revenue(dbt_world, app)
    expected = accepted.groupby("month")["amount"].sum()
    mart = dict(
        dbt_world.query("select to_char(month_start, 'YYYY-MM'), field_quote_revenue_eur from marts.mart_kpi_monthly")
    )
    month = expected.index[len(expected) // 2]
    assert expected[month] > 0
    assert float(mart[month]) == pytest.approx(expected[month], abs=0.01)
    assert sum(float(v) for v in mart.values()) == pytest.approx(expected[expected.index.isin(mart)].sum(), abs=0.05)


# ------------------------------------------------------------------------- technicians
def test_technician_satisfaction_and_revenue_of_every_technician_month(
    dbt_world: DbtWorld, app: dict[str, pd.DataFrame]
):
    """mart_kpi_technician_daily added up by month: on-site score (by visit day) and accepted
    field-quote revenue (by decision day), per technician."""
    visits = app["interventions"].copy()
    visits["month"] = _month(visits["scheduled_start"])
    scored = visits[visits["satisfaction_score"].notna()]
    satisfaction = scored.groupby(["technician_id", "month"])["satisfaction_score"].agg(["size", "sum"])
    revenue = _field_quote_revenue(dbt_world, app).groupby(["technician_id", "month"])["amount"].sum()
    mart = {
        (t, m): (n, _num(total), _num(eur))
        for t, m, n, total, eur in dbt_world.query(
            "select technician_id, to_char(kpi_date, 'YYYY-MM'), sum(satisfaction_scores), "
            "sum(satisfaction_score_total), sum(field_quote_revenue_eur) from marts.mart_kpi_technician_daily "
            "group by 1, 2"
        )
    }
    last_month = f"{END_DATE:%Y-%m}"
    assert len(satisfaction) > 20 and len(revenue) > 20
    for key, row in satisfaction.iterrows():
        if key[1] > last_month:
            continue  # visits booked for after the snapshot have no score yet
        assert mart[key][0] == row["size"] and mart[key][1] == pytest.approx(row["sum"]), key
    for key, eur in revenue.items():
        assert mart[key][2] == pytest.approx(eur, abs=0.01), key
    # and the daily average is the day's scores' mean
    day, tech, avg = _mart(
        dbt_world,
        "select kpi_date, technician_id, avg_satisfaction from marts.mart_kpi_technician_daily "
        "where satisfaction_scores >= 2 order by kpi_date desc limit 1",
    )
    of_day = scored[(scored["technician_id"] == tech) & (_paris(scored["scheduled_start"]).dt.date == day)]
    assert _num(avg) == pytest.approx(of_day["satisfaction_score"].astype(float).mean(), abs=0.0051)


# ------------------------------------------------------------------------- cost per call
def test_cost_per_call_follows_the_ledger(dbt_world: DbtWorld, cdr: pd.DataFrame, cdr_days: set[date]):
    """Coût appel moyen: the month's customer-service costs in Sage (expense lines, analytic section
    SERVCLIENT, debit minus credit, by accounting month) over the calls the agents handled (day
    line, answered). Only for a month whose CDR files are all in and whose journals the accountant
    has closed; null otherwise."""
    costs = _sage(
        dbt_world,
        f"""
        select to_char(c."JM_Date", 'YYYY-MM') as month,
               sum(case c."EC_Sens" when 0 then a."EA_Montant" else -a."EA_Montant" end) as eur
        from dbo."F_ECRITUREC" c join dbo."F_ECRITUREA" a on a."EC_No" = c."EC_No"
        where a."CA_Num" = '{CUSTOMER_SERVICE_SECTION}' and c."CG_Num" like '6%%'
        group by 1
        """,
    ).set_index("month")["eur"]
    periods = _sage(dbt_world, """select to_char("JM_Date", 'YYYY-MM') as month, "JM_Cloture" from dbo."F_JMOUV" """)
    closed = periods.groupby("month")["JM_Cloture"].apply(lambda s: bool((s == 2).all()))
    handled = cdr[cdr["answered"] & cdr["day_line"]].assign(month=lambda f: f["start"].dt.strftime("%Y-%m"))
    calls = handled.groupby("month").size()
    mart = _monthly(
        dbt_world, "customer_service_cost_eur", "handled_calls", "cost_per_call_eur", "is_cost_per_call_final"
    )
    finals = []
    for month, (cost, n, per_call, final) in mart.items():
        first = date.fromisoformat(month + "-01")
        days = pd.date_range(first, first + pd.offsets.MonthEnd(0)).date
        complete = all(d in cdr_days for d in days)
        expect_final = complete and bool(closed.get(month, False))
        assert cost == pytest.approx(float(costs.get(month, 0.0)), abs=0.005), month
        assert n == calls.get(month, 0), month
        assert final == expect_final, month
        if expect_final:
            finals.append(month)
            assert per_call == pytest.approx(float(costs[month]) / calls[month], abs=0.0051), month
        else:
            assert per_call is None, month
    assert len(finals) >= 10
    # the last month (June 2026) closes on 10 July: its cost so far is shown, not a cost per call
    assert mart[f"{END_DATE:%Y-%m}"][2] is None and mart[f"{END_DATE:%Y-%m}"][0] > 0
