"""The world's portal visits, shared mailbox and office time clock (no files, no database): each
consistent with the bookings, tickets and calls it is built from, and deterministic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from simulators.world import World, WorldConfig, build_world
from simulators.world.clock import utc_to_paris

CONFIG = WorldConfig(end_date=date(2025, 3, 31), seed=7, scale=0.3, years=1)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(CONFIG)


def local_day(instants) -> np.ndarray:
    return utc_to_paris(np.asarray(instants, dtype="datetime64[s]")).astype("datetime64[D]")


def test_same_inputs_give_the_same_portal_mailbox_and_time_clock(world: World) -> None:
    again = build_world(CONFIG)
    pd.testing.assert_frame_equal(world.portal.visits, again.portal.visits)
    pd.testing.assert_frame_equal(world.portal.page_views, again.portal.page_views)
    pd.testing.assert_frame_equal(world.mailbox.messages, again.mailbox.messages)
    pd.testing.assert_frame_equal(world.office_time, again.office_time)


def test_every_portal_booking_and_contact_form_is_one_converting_visit(world: World) -> None:
    visits = world.portal.visits
    first, last = np.datetime64(CONFIG.start_date), np.datetime64(CONFIG.end_date)
    bookings = world.field.interventions.query("booked_via == 'portal'")
    in_history = (local_day(bookings["created_utc"]) >= first) & (local_day(bookings["created_utc"]) <= last)
    booking_visits = visits[visits["kind"] == "booking"]
    assert sorted(booking_visits["reference"]) == sorted(bookings.loc[in_history, "intervention_id"])
    assert (booking_visits["local_date"].to_numpy() <= last).all()
    forms = world.conversations.tickets.query("source_type == 'FORM'")
    form_days = local_day(forms["created_utc"])
    assert (visits["kind"] == "contact_form").sum() == ((form_days >= first) & (form_days <= last)).sum()
    # Converting visits end on their funnel's key-event page; GA4 sees about two thirds of visits.
    views = world.portal.page_views.merge(visits[["visit", "kind"]], on="visit")
    last_page = views.sort_values(["visit", "position"]).groupby("visit").tail(1)
    assert (last_page.loc[last_page["kind"] == "booking", "path"] == "/rendez-vous/confirmation").all()
    assert (last_page.loc[last_page["kind"] == "contact_form", "path"] == "/contact/merci").all()
    assert not views.loc[views["kind"] == "browse", "is_key_event"].any()
    assert 0.62 < visits["consented"].mean() < 0.74


def test_mailbox_holds_each_email_ticket_once_and_mail_that_is_no_ticket(world: World) -> None:
    messages = world.mailbox.messages
    email_tickets = world.conversations.tickets.query("source_type == 'EMAIL'")
    email_tickets = email_tickets[email_tickets["created_utc"] >= world.history_start]
    requests = messages[messages["kind"] == "ticket_request"]
    assert sorted(requests["ticket_row"]) == sorted(email_tickets["row"])
    first_reply = email_tickets.set_index("row")["first_reply_utc"]
    assert (requests["handled_utc"].to_numpy() == first_reply.loc[requests["ticket_row"]].to_numpy()).all()
    assert {"supplier", "newsletter", "spam", "customer_follow_up", "thanks_reply"} <= set(messages["kind"])
    assert (messages.loc[messages["customer"] < 0, "ticket_row"] == -1).all()
    handled = messages["handled_utc"].notna()
    assert (messages.loc[handled, "handled_utc"] > messages.loc[handled, "received_utc"]).all()
    spam = messages["kind"] == "spam"
    assert messages.loc[spam, "removed_utc"].notna().all() and messages.loc[spam, "handled_utc"].isna().all()
    assert messages.loc[~spam, "removed_utc"].isna().all()
    # A thread's follow-ups come between the ticket's first and last agent replies.
    follow = messages[messages["kind"] == "customer_follow_up"].merge(
        email_tickets[["row", "first_reply_utc", "last_reply_utc"]], left_on="ticket_row", right_on="row"
    )
    assert len(follow) and (follow["received_utc"] > follow["first_reply_utc"]).all()
    assert (follow["handled_utc"] <= follow["last_reply_utc"]).all()


def test_office_time_clock_blocks_follow_each_other_and_the_lead_does_most_admin(world: World) -> None:
    entries = world.office_time.sort_values(["staff_id", "clock_in_utc"])
    assert set(entries["kind"]) == {"phone", "email", "admin", "meeting", "break"}
    same_day = entries["staff_id"].eq(entries["staff_id"].shift()) & entries["work_date"].eq(
        entries["work_date"].shift()
    )
    gaps = entries["clock_in_utc"] - entries["clock_out_utc"].shift()
    assert (gaps[same_day] >= pd.Timedelta(0)).all(), "no two blocks of one person overlap"
    hours = (entries["clock_out_utc"] - entries["clock_in_utc"]).dt.total_seconds() / 3600
    work = entries["kind"] != "break"
    share = (hours[work & (entries["kind"] == "admin")].groupby(entries["staff_id"]).sum()
             / hours[work].groupby(entries["staff_id"]).sum())  # fmt: skip
    assert 0.30 < share["OFF-01"] < 0.50 and share.drop("OFF-01").max() < 0.25
    # Entries carry the time clock's ids, one sequence with the technicians'.
    ids = pd.concat([entries["time_entry_id"], world.field.time_entries["time_entry_id"]])
    assert ids.is_unique and ids.str.fullmatch(r"TE-\d{6}").all()
