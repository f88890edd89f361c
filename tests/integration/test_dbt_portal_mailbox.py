"""The portal, mailbox and office-time marts against the simulator's ground truth: the two KPIs the
specification could not compute before (portal conversion, the lead's admin time) and the mail tile,
on the shared small world loaded by the production loaders (tests/integration/dbt_world.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


def truth(world: DbtWorld, name: str) -> pd.DataFrame:
    return pd.read_csv(world.truth_dir / name, keep_default_na=False)


def test_portal_days_match_what_ga4_and_the_app_showed(dbt_world: DbtWorld):
    marts = dbt_world.query_df(
        "select kpi_date::text as date, portal_sessions, portal_bookings_validated as mart_validated "
        "from marts.mart_kpi_portal_daily"
    ).set_index("date")
    expected = truth(dbt_world, "portal_daily.csv").set_index("date")
    joined = expected.join(marts, how="inner")
    assert len(joined) == len(expected), "every day of the history is in the mart"
    # Sessions as GA4 reported them at the snapshot (the last days still provisional), bookings as the app.
    assert (joined["portal_sessions"] == joined["ga_sessions_at_snapshot"]).all()
    assert (joined["mart_validated"] == joined["portal_bookings_validated"]).all()
    assert joined["portal_sessions"].sum() < joined["true_visits"].sum(), "GA4 only sees consented visits"


def test_portal_conversion_of_every_complete_month_matches_the_ground_truth(dbt_world: DbtWorld):
    marts = dbt_world.query_df(
        "select to_char(month_start, 'YYYY-MM') as month, portal_sessions, portal_bookings_validated, "
        "portal_conversion_rate, portal_conversion_target, is_portal_conversion_alert "
        "from marts.mart_kpi_portal_monthly where is_complete_month and not is_provisional"
    ).set_index("month")
    expected = truth(dbt_world, "portal_monthly.csv").set_index("month")
    joined = marts.join(expected, rsuffix="_truth", how="inner")
    assert len(joined) >= 10
    assert (joined["portal_sessions"] == joined["ga_sessions"]).all()
    assert (joined["portal_bookings_validated"] == joined["portal_bookings_validated_truth"]).all()
    assert (joined["portal_conversion_rate"].astype(float) - joined["conversion_rate"]).abs().max() < 1e-4
    assert (joined["portal_conversion_target"].astype(float) == 0.15).all()
    assert (joined["is_portal_conversion_alert"] == (joined["conversion_rate"] < 0.15)).all()


def test_admin_time_of_the_service_lead_matches_the_time_clock(dbt_world: DbtWorld):
    marts = dbt_world.query_df(
        "select to_char(month_start, 'YYYY-MM') as month, staff_id, is_service_lead, worked_hours, admin_hours, "
        "admin_time_share, admin_time_share_target_below, full_name from marts.mart_kpi_agent_monthly"
    ).set_index(["staff_id", "month"])
    expected = truth(dbt_world, "office_time_monthly.csv").set_index(["staff_id", "month"])
    joined = marts.join(expected, rsuffix="_truth", how="inner")
    assert len(joined) == len(expected)
    assert (joined["worked_hours"].astype(float) - joined["worked_hours_truth"]).abs().max() < 0.01
    assert (joined["admin_time_share"].astype(float) - joined["admin_share"]).abs().max() < 1e-3
    lead = joined[joined["is_service_lead"]]
    assert set(lead.index.get_level_values("staff_id")) == {"OFF-01"} and (lead["is_service_lead_truth"]).all()
    assert lead["full_name"].str.startswith("Claire").all(), "the time clock's employee is tied to the CRM user"
    assert (joined["admin_time_share_target_below"].astype(float) == 0.40).all()


def test_mail_tile_matches_the_mailbox_day_by_day(dbt_world: DbtWorld):
    marts = dbt_world.query_df(
        "select kpi_date::text as date, emails_received, emails_handled, emails_waiting, "
        "avg_response_business_hours as mart_business_hours, avg_response_calendar_hours as mart_calendar_hours "
        "from marts.mart_kpi_mailbox_daily"
    ).set_index("date")
    expected = truth(dbt_world, "mailbox_daily.csv").set_index("date")
    joined = expected.join(marts, how="inner")
    assert len(joined) == len(expected)
    for column, truth_column in (("emails_received", "received"), ("emails_handled", "handled"),
                                 ("emails_waiting", "waiting_end_of_day")):  # fmt: skip
        assert (joined[column] == joined[truth_column]).all(), column
    handled = joined[joined["handled"] > 0]
    for mart, truth_column in (("mart_business_hours", "avg_response_business_hours"),
                               ("mart_calendar_hours", "avg_response_calendar_hours")):  # fmt: skip
        gap = (handled[mart].astype(float) - pd.to_numeric(handled[truth_column])).abs()
        assert gap.max() < 0.01, f"{mart}: {handled.loc[gap.idxmax()].to_dict()}"


def test_mailbox_senders_and_tickets_are_resolved_like_the_ground_truth(dbt_world: DbtWorld):
    emails = dbt_world.query_df("select message_id, customer_id, ticket_id, is_ticket_opener from marts.fct_emails")
    expected = truth(dbt_world, "mailbox_messages.csv")
    # The first load is a full delta round: messages that left the inbox before it are not in it.
    gone = expected["is_removed"].astype(str) == "True"
    assert gone.any() and not set(expected.loc[gone, "message_id"]) & set(emails["message_id"])
    expected = expected[~gone]
    codes = truth(dbt_world, "customers.csv").set_index("customer_id")["erp_code"]
    expected["erp_code"] = expected["customer_id"].map(codes)
    joined = expected.merge(emails, on="message_id", how="inner", suffixes=("_truth", ""))
    assert len(joined) == len(expected)
    customers = joined[joined["customer_id_truth"] != ""]
    resolved = customers["customer_id"].notna()
    assert resolved.mean() > 0.97, "customers' messages resolved to their customer"
    assert (customers.loc[resolved, "customer_id"] == customers.loc[resolved, "erp_code"]).all(), (
        "never a wrong customer"
    )
    assert joined.loc[joined["customer_id_truth"] == "", "customer_id"].isna().all(), "suppliers and spam stay unknown"
    openers = joined[joined["kind"] == "ticket_request"]
    matched = openers["ticket_id"].astype(str) == openers["crm_ticket_id"].astype(str)
    assert matched.mean() > 0.97 and openers["is_ticket_opener"].mean() > 0.97
    stray = joined[joined["crm_ticket_id"].astype(str) == ""]
    assert stray["ticket_id"].isna().all(), "mail that never became a ticket has none"
