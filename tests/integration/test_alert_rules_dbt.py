"""The rules against the real dbt-built warehouse of the shared small world: every rule's query
runs on the models it names, and the models made for alerting hold what they claim."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest

from cs_analytics.alerts.engine import RunContext, fetch_rows
from cs_analytics.alerts.rules import load_rules
from cs_analytics.config import AlertSettings
from tests.integration.alerting import NOTIFY
from tests.integration.dbt_world import END_DATE, PARIS, DbtWorld, shared_world


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    world = shared_world(tmp_path_factory, request)
    assert world.build_returncode == 0, world.build_output[-3000:]  # type: ignore[attr-defined]
    return world


def test_every_rule_query_runs_on_the_models_it_names(dbt_world):
    reference = datetime.combine(END_DATE + timedelta(days=1), datetime.min.time(), PARIS)
    ctx = RunContext(END_DATE, reference, settings=AlertSettings(), notify=NOTIFY)
    counts = {}
    for rule in load_rules().rules:
        if rule.schedule != "event":
            counts[rule.name] = len(fetch_rows(dbt_world.warehouse, rule, ctx))
    # the world's last day: some KPI alerts fire, the live views see the CRM's open tickets
    assert counts["technicians_without_clock_in"] >= 0 and counts["tickets_waiting_over_24h"] > 0
    assert set(counts) >= {"calls_overload", "vip_dissatisfied", "churn_high", "quote_follow_ups", "model_drift"}


def test_customer_contacts_carry_the_crm_opt_out_and_the_last_technician(dbt_world):
    rows = dbt_world.query(
        "select c.customer_id, c.crm_contact_id, c.is_email_opted_out, c.last_technician_name, c.last_visit_date, "
        "(select count(*) from marts.dim_customer d where d.is_current) from marts.dim_customer_contact c"
    )
    assert len(rows) == rows[0][5] == len({r[0] for r in rows})  # one row per current customer
    with sqlite3.connect(dbt_world.data_dir / "crm.sqlite") as crm:
        opted = {
            i for i, p in crm.execute("select id, properties from objects where object_type = 'contacts'")
            if json.loads(p).get("hs_email_optout") == "true"
        }  # fmt: skip
    assert opted and {r[1] for r in rows if r[2]} == {r[1] for r in rows if r[1] in opted}
    visited = [r for r in rows if r[4] is not None]
    assert visited and all(r[3] for r in visited) and max(r[4] for r in visited) <= END_DATE


def test_quote_follow_ups_are_sent_undecided_old_enough_and_still_valid(dbt_world):
    rows = dbt_world.query(
        "select f.quote_id, f.days_waiting, f.follow_up_after_days, f.valid_until, f.as_of_date, q.quote_status, "
        "q.decision_date from marts.mart_quote_follow_ups f join marts.fct_quotes q using (quote_id)"
    )
    assert rows, "the world has quotes waiting for an answer"
    for quote, waiting, after, valid_until, as_of, status, decided in rows:
        assert status == "sent" and decided is None and waiting >= after == 7, quote
        assert valid_until >= as_of == END_DATE, quote


def test_unusual_call_peaks_are_business_days_30_percent_above_the_same_weekday(dbt_world):
    rows = dbt_world.query(
        "select kpi_date, calls_per_day, calls_same_weekday_avg_4w, unusual_call_peak_ratio, is_unusual_call_peak, "
        "is_business_day, is_calls_loaded from marts.mart_kpi_daily order by kpi_date"
    )
    by_day = {r[0]: r for r in rows}
    flagged = [r for r in rows if r[4]]
    assert flagged, "the world plants spike days"
    for day, calls, baseline, ratio, _, business, loaded in flagged:
        previous = [by_day[day - timedelta(weeks=k)] for k in range(1, 5) if day - timedelta(weeks=k) in by_day]
        loaded_calls = [p[1] for p in previous if p[6]]
        assert business and loaded and calls > float(ratio) * sum(loaded_calls) / len(loaded_calls), day
        assert abs(sum(loaded_calls) / len(loaded_calls) - float(baseline)) <= 0.0501  # rounded to 0.1


def test_open_tickets_reach_the_alert_age_24_hours_after_creation(dbt_world):
    rows = dbt_world.query(
        "select a.alert_age_reached_at - a.created_at, t.is_closed from intermediate.int_open_tickets_aged a "
        "join staging.stg_crm__tickets t using (ticket_id)"
    )
    assert rows and {r[0] for r in rows} == {timedelta(hours=24)} and not any(r[1] for r in rows)
    answers = dbt_world.query(
        "select survey_type, response_value, is_vip, is_dissatisfied, is_vip_dissatisfied "
        "from intermediate.int_survey_answers_flagged"
    )
    assert any(r[4] for r in answers)
    for survey, value, vip, dissatisfied, vip_dissatisfied in answers:
        assert dissatisfied == (survey == "CSAT" and value < 2) and vip_dissatisfied == (dissatisfied and vip)
