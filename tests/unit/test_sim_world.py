"""The simulated world on its own (no files, no database): determinism, calendar, clocks,
identity mess, churn mechanics and the planted patterns."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from simulators.world import World, WorldConfig, build_world, catalog
from simulators.world.churn import FEATURES, monthly_hazard
from simulators.world.clock import BusinessHours, format_paris_iso, format_paris_wall, paris_to_utc, utc_to_paris
from simulators.world.rng import component_rng

CONFIG = WorldConfig(end_date=date(2025, 3, 31), seed=7, scale=0.3, years=1)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(CONFIG)


@pytest.fixture(scope="module")
def scale_one_world() -> World:
    """Two years at the specification's size: enough customers for rates and segments."""
    return build_world(WorldConfig(end_date=date(2025, 3, 31), seed=3, scale=1, years=2))


def history(world: World) -> pd.DataFrame:
    return world.calendar.iloc[world.start_index : world.end_index + 1]


# --------------------------------------------------------------------------- determinism
def test_same_inputs_give_the_same_world(world: World) -> None:
    again = build_world(CONFIG)
    pd.testing.assert_frame_equal(world.calls, again.calls)
    pd.testing.assert_frame_equal(world.conversations.tickets, again.conversations.tickets)
    pd.testing.assert_frame_equal(world.field.interventions, again.field.interventions)
    pd.testing.assert_frame_equal(world.ledger.documents, again.ledger.documents)
    np.testing.assert_array_equal(world.behaviour.churn_day, again.behaviour.churn_day)


def test_another_seed_gives_another_world(world: World) -> None:
    other = build_world(WorldConfig(end_date=CONFIG.end_date, seed=8, scale=CONFIG.scale, years=CONFIG.years))
    assert len(other.calls) != len(world.calls) or not other.calls["start_utc"].equals(world.calls["start_utc"])


def test_component_streams_do_not_depend_on_each_other() -> None:
    first = component_rng(7, "calendar").random(5)
    component_rng(7, "behaviour").random(1000)  # another component drawing in between changes nothing
    np.testing.assert_array_equal(first, component_rng(7, "calendar").random(5))
    assert not np.array_equal(first, component_rng(7, "customers").random(5))


# --------------------------------------------------------------------------- clocks
def test_business_hours_skip_nights_weekends_and_holidays() -> None:
    days = np.arange(np.datetime64("2025-04-28"), np.datetime64("2025-05-10"))
    is_open = (
        (pd.DatetimeIndex(days).day_of_week < 5)
        & (days != np.datetime64("2025-05-01"))
        & (days != np.datetime64("2025-05-08"))
    )
    hours = BusinessHours(days, is_open)
    wall = lambda text: np.array([np.datetime64(text, "s")])  # noqa: E731
    # Wednesday 17:00 + 2 business hours: Thursday 1 May is a holiday, so Friday 09:00.
    assert hours.add(wall("2025-04-30T17:00:00"), [2 * 3600])[0] == np.datetime64("2025-05-02T09:00:00")
    # A mail sent Saturday is answered from Monday 08:00 on.
    assert hours.add(wall("2025-05-03T11:00:00"), [1800])[0] == np.datetime64("2025-05-05T08:30:00")
    assert hours.elapsed(wall("2025-05-02T17:30:00"), wall("2025-05-05T08:30:00"))[0] == 3600


def test_a_zero_business_delay_after_hours_waits_for_the_opening_never_goes_back() -> None:
    """The clock reads the same at one day's close and the next open day's opening: a reply with
    no business delay to a message sent that night landed at the previous close, before the
    message (how SIM_SCALE=10 made an e-mail ticket closed 4.5 hours before it was created)."""
    days = np.arange(np.datetime64("2025-04-28"), np.datetime64("2025-05-10"))
    is_open = (pd.DatetimeIndex(days).day_of_week < 5) & (days != np.datetime64("2025-05-01"))
    hours = BusinessHours(days, is_open)
    sent = np.array(["2025-04-29T06:10:00", "2025-04-29T19:00:00", "2025-04-30T23:30:00", "2025-05-03T11:00:00",
                     "2025-04-29T10:00:00"], dtype="datetime64[s]")  # fmt: skip
    replied = hours.add(sent, np.zeros(len(sent), dtype="int64"))
    assert replied.tolist() == np.array(
        ["2025-04-29T08:00:00", "2025-04-30T08:00:00", "2025-05-02T08:00:00", "2025-05-05T08:00:00",
         "2025-04-29T10:00:00"], dtype="datetime64[s]"
    ).tolist()  # fmt: skip
    assert (hours.add(sent, np.array([1, 1, 1, 1, 1])) > sent).all()


def test_paris_times_across_daylight_saving_changes() -> None:
    autumn_first = paris_to_utc(np.array([np.datetime64("2024-10-27T02:30:00", "s")]))
    assert autumn_first[0] == np.datetime64("2024-10-27T00:30:00")  # the summer-time occurrence
    second = np.array([np.datetime64("2024-10-27T01:30:00", "s")])
    assert utc_to_paris(second)[0] == np.datetime64("2024-10-27T02:30:00")
    assert format_paris_iso(second)[0] == "2024-10-27T02:30:00+01:00"
    assert format_paris_iso(autumn_first)[0] == "2024-10-27T02:30:00+02:00"
    # Nothing shows a wall time inside the spring gap.
    spring = np.arange(
        np.datetime64("2025-03-30T00:00:00"), np.datetime64("2025-03-30T02:00:00"), np.timedelta64(600, "s")
    )
    assert not any(text[11:13] == "02" for text in format_paris_wall(spring))


# --------------------------------------------------------------------------- calendar and λ(d)
def test_expected_volume_follows_weekday_holidays_and_season(world: World) -> None:
    c = world.calendar
    assert 0.9 * 45 * CONFIG.scale < history(world)["expected_calls"].mean() < 1.1 * 45 * CONFIG.scale
    by_weekday = c[~c["is_holiday"] & ~c["is_spike"]].groupby("weekday")["expected_calls"].mean()
    assert by_weekday[0] == by_weekday.max() and by_weekday[0] > 3 * by_weekday[6]
    ordinary = c[~c["is_holiday"] & ~c["is_spike"] & (c["weather_event"] == "") & (c["weekday"] < 5)]
    month_mean = ordinary.groupby("month")["expected_calls"].mean()
    assert month_mean[1] > month_mean[4] and month_mean[7] > month_mean[8]  # heating winter, July air conditioning
    holidays = c[c["is_holiday"] & (c["weekday"] < 5)]
    same_weekday = ordinary.groupby("weekday")["expected_calls"].mean()
    assert (holidays["expected_calls"] < 0.3 * holidays["weekday"].map(same_weekday)).all()


def test_waves_are_runs_of_extreme_temperature_that_raise_volume(world: World) -> None:
    c = world.calendar
    for name, sign in (("cold_wave", -1), ("heat_wave", 1)):
        wave = c[c["weather_event"] == name]
        assert len(wave) >= 3
        assert (sign * wave["temperature_anomaly_c"] >= 6).all()
        assert (wave["weather_factor"] >= 1.3).all()
    assert (c.loc[c["weather_event"] == "", "weather_factor"] == 1).all()


def test_about_three_spike_days_a_year(world: World) -> None:
    spikes = world.calendar[world.calendar["is_spike"]]
    years = len(world.calendar) / 365.25
    assert 2 * years <= len(spikes) <= 4 * years
    assert spikes["spike_factor"].between(2.0, 2.5).all() and spikes["is_open"].all()


# --------------------------------------------------------------------------- people
def test_identity_mess(world: World) -> None:
    customers = world.customers
    assert 0.45 < customers["crm_has_erp_code"].mean() < 0.75
    assert customers["email_typo"].isin(["", "crm", "erp"]).all() and (customers["email_typo"] != "").mean() < 0.1
    clean = customers["email_typo"] == ""
    assert (customers.loc[clean, "erp_email"].str.lower() == customers.loc[clean, "crm_email"]).all()
    assert (customers.loc[clean, "erp_email"] != customers.loc[clean, "crm_email"]).mean() > 0.5  # case differs
    assert customers["crm_phone"].str.fullmatch(r"0\d( \d\d){4}|\+33 \d( \d\d){4}|0\d{9}").all()
    assert customers["erp_phone"].str.fullmatch(r"0\d(\.\d\d){4}|0\d{9}|0\d( \d\d){4}").all()
    assert customers["app_phone"].str.fullmatch(r"\+33\d{9}|0033\d{9}").all()
    assert customers["mobile"].is_unique and customers["email"].is_unique and customers["crm_contact_id"].is_unique
    assert customers["crm_contact_id"].astype(int).min() >= 51


def test_about_one_customer_in_ten_is_vip(scale_one_world: World) -> None:
    assert 0.06 < scale_one_world.customers["vip"].mean() < 0.16


def test_unknown_callers_are_about_eight_percent_of_inbound_calls(world: World) -> None:
    inbound = world.calls[(world.calls["direction"] == "inbound") & (world.calls["day"] >= world.start_index)]
    share = (inbound["customer"] < 0).mean()
    assert 0.05 < share < 0.11
    known_numbers = set("+33" + world.customers["mobile"]) | set("+33" + world.customers["landline"].dropna())
    assert not set(world.unknown_numbers["phone_e164"]) & known_numbers


# --------------------------------------------------------------------------- churn
def test_hazard_rises_with_every_risk_feature() -> None:
    base = pd.DataFrame(
        {
            "call_trend": [0.0],
            "days_since_last_contact": [10],
            "avg_satisfaction": [4.3],
            "complaints_90d": [0],
            "avg_delay_min_180d": [5.0],
            "unvalidated_quotes_180d": [0],
            "tenure_days": [2000],
        }
    )
    assert list(base.columns) == list(FEATURES)
    worse = {
        "call_trend": -1.0,
        "days_since_last_contact": 200,
        "avg_satisfaction": 2.5,
        "complaints_90d": 4,
        "avg_delay_min_180d": 90.0,
        "unvalidated_quotes_180d": 3,
        "tenure_days": 100,
    }
    reference = monthly_hazard(base)[0]
    for feature, value in worse.items():
        assert monthly_hazard(base.assign(**{feature: [value]}))[0] > reference, feature


def test_customers_who_leave_showed_the_signals_first(scale_one_world: World) -> None:
    w = scale_one_world
    churn_day = w.behaviour.churn_day
    months_before = []
    for day in range(w.start_index, w.end_index, 30):
        features = w.behaviour.trail.features(day)
        alive = (w.customers["arrival_day"].to_numpy() < day) & (churn_day >= day)
        leaves = alive & (churn_day < day + 90)
        months_before.append((features[leaves], features[alive & ~leaves]))
    leavers = pd.concat([m[0] for m in months_before])
    stayers = pd.concat([m[1] for m in months_before])
    assert len(leavers) > 20
    assert leavers["complaints_90d"].mean() > 1.3 * stayers["complaints_90d"].mean()
    assert leavers["avg_satisfaction"].mean() < stayers["avg_satisfaction"].mean() - 0.2
    assert leavers["unvalidated_quotes_180d"].mean() > stayers["unvalidated_quotes_180d"].mean()
    assert leavers["days_since_last_contact"].mean() > stayers["days_since_last_contact"].mean()
    lost_per_month = ((churn_day >= w.start_index) & (churn_day <= w.end_index)).sum() / 24
    assert 1.0 < lost_per_month < 3.5


def test_lost_customers_stop_generating_activity(world: World) -> None:
    churn_day = pd.Series(world.behaviour.churn_day)
    for table in (world.behaviour.calls, world.behaviour.tickets, world.behaviour.interventions):
        known = table[table["customer"] >= 0]
        assert (known["day"].to_numpy() < churn_day.loc[known["customer"]].to_numpy()).all()


def test_churn_truth_covers_customers_active_at_the_end(world: World) -> None:
    truth = world.churn_truth()
    churn_day = world.behaviour.churn_day[truth["customer"]]
    assert (churn_day > world.end_index).all()
    assert truth["churn_prob_180d"].between(0, 1).all()
    assert (truth["churned_within_180d"] == (churn_day <= world.end_index + 180)).all()


def test_a_few_vip_customers_turn_unhappy_at_the_end(world: World) -> None:
    planted = world.behaviour.vip_low_satisfaction
    assert len(planted) >= 2 and world.customers["vip"].to_numpy()[planted["customer"]].all()
    tickets = world.behaviour.tickets
    scores = tickets[tickets["planted"]]
    assert (scores["csat_score"] == 1).all() and set(scores["customer"]) == set(planted["customer"])
    assert (world.end_index - scores["day"]).between(1, 7).all()


# --------------------------------------------------------------------------- the dressed events
def test_calls_are_chronological_with_cdr_fields(world: World) -> None:
    calls = world.calls
    assert calls["start_utc"].is_monotonic_increasing
    assert calls["call_id"].is_unique
    assert (calls["end_utc"] >= calls["start_utc"]).all()
    answered = calls["outcome"] == "answered"
    assert (calls.loc[answered, "agent_id"] != "").all() and (calls.loc[~answered, "agent_id"] == "").all()
    assert calls["queue"].isin(catalog.MOTIVE_QUEUE.values()).all()
    night_line = calls["called_number"] == catalog.NIGHT_LINE
    assert calls.loc[night_line, "agent_id"].isin(["", *world.technicians["extension"]]).all()


def test_night_line_takes_calls_in_both_occurrences_of_the_autumn_hour(world: World) -> None:
    calls = world.calls
    wall = pd.Series(format_paris_wall(calls["start_utc"].to_numpy()))
    repeated = calls[wall.str.startswith("2024-10-27 02:").to_numpy()]
    offsets = set(format_paris_iso(repeated["start_utc"].to_numpy()).astype(str).tolist())
    assert {o[-6:] for o in offsets} == {"+02:00", "+01:00"}
    assert not wall.str.startswith("2025-03-30 02:").any()


def test_tickets_are_answered_in_business_hours_mostly(world: World) -> None:
    tickets = world.conversations.tickets
    written = tickets[tickets["source_type"] != "PHONE"]
    reply_wall = utc_to_paris(written["first_reply_utc"].to_numpy())
    hour = (reply_wall - reply_wall.astype("datetime64[D]")).astype("int64") / 3600
    weekday = pd.DatetimeIndex(reply_wall).day_of_week
    in_hours = (hour >= 8) & (hour <= 18) & (weekday < 5)
    assert 0.85 < in_hours.mean() < 1.0
    assert (tickets["closed_utc"] >= tickets["first_reply_utc"]).all()
    assert (tickets["first_reply_utc"] >= tickets["created_utc"]).all()
    resolved_first = (tickets["reply_count"] == 1) & (tickets["reopen_count"] == 0)
    assert 0.6 < resolved_first.mean() < 0.78


def test_ledger_documents_are_consistent(world: World) -> None:
    documents, lines = world.ledger.documents, world.ledger.lines
    assert documents["piece"].is_unique
    assert documents["piece"].str.fullmatch(r"(DE|BC|BL|FA|AV)\d{6}").all()
    totals = lines.groupby("doc_key")["amount"].sum().round(2)
    assert np.allclose(documents.set_index("doc_key")["total_ht"], totals.reindex(documents["doc_key"]).fillna(0))
    credit = documents["prefix"] == "AV"
    assert (documents.loc[credit, "total_ht"] < 0).all() and (documents.loc[~credit, "total_ht"] >= 0).all()
    field_quotes = documents[(documents["prefix"] == "DE") & documents["reference"].notna()]
    assert field_quotes["reference"].str.fullmatch(r"FQ-\d{6}").all()
    kinds = set(world.ledger.anomalies["kind"])
    assert kinds == {"erp_abnormal_amount", "erp_credit_without_invoice", "erp_duplicate", "erp_night_weekend"}


def test_segments_cover_the_six_labels(scale_one_world: World) -> None:
    w = scale_one_world
    segments = pd.Series(w.true_segments()[w.exported_customers])
    assert set(segments) == set(catalog.SEGMENTS)
    assert segments.value_counts(normalize=True).min() > 0.02


def test_field_quote_and_intervention_ids_follow_creation_order(world: World) -> None:
    visits = world.field.interventions
    assert visits["created_utc"].is_monotonic_increasing and visits["intervention_id"].is_unique
    quotes = world.field.field_quotes
    assert quotes["created_utc"].is_monotonic_increasing
    assert all(re.fullmatch(r"FQ-\d{6}", q) for q in quotes["field_quote_id"])
    done = visits[~visits["cancelled"]]
    assert (done["actual_end_utc"] > done["actual_start_utc"]).all()
    assert visits["booked_via"].isin(catalog.BOOKING_CHANNELS).all()
    assert 0.18 < (visits["booked_via"] == "portal").mean() < 0.32
