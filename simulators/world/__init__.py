"""The deterministic world behind the simulated source systems.

`build_world(WorldConfig(...))` returns every entity and event from the warm-up start to
`end_date + 180 days`; the exporters (`simulators.export`) show what the sources would show
at the end of `end_date`, and the ground truth the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.behaviour import Behaviour, simulate_behaviour
from simulators.world.calendar import build_calendar
from simulators.world.calls import build_calls
from simulators.world.churn import probability_within
from simulators.world.clock import paris_to_utc
from simulators.world.config import WorldConfig
from simulators.world.field import FieldWork, build_field_work
from simulators.world.general_ledger import GeneralLedger, build_general_ledger
from simulators.world.ledger import Ledger, build_ledger
from simulators.world.mailbox import Mailbox, build_mailbox
from simulators.world.office import build_office_time, number_time_entries
from simulators.world.people import (
    FIRST_CRM_CONTACT_ID,
    build_agents,
    build_customers,
    build_leads,
    build_technicians,
    build_unknown_numbers,
)
from simulators.world.portal import PortalTraffic, build_portal_traffic
from simulators.world.rng import component_rng
from simulators.world.tickets import Conversations, build_conversations

__all__ = ["World", "WorldConfig", "build_world"]


@dataclass
class World:
    config: WorldConfig
    calendar: pd.DataFrame
    customers: pd.DataFrame
    leads: pd.DataFrame
    agents: pd.DataFrame
    technicians: pd.DataFrame
    unknown_numbers: pd.DataFrame
    behaviour: Behaviour
    calls: pd.DataFrame
    conversations: Conversations
    field: FieldWork
    ledger: Ledger
    general_ledger: GeneralLedger
    portal: PortalTraffic
    mailbox: Mailbox
    office_time: pd.DataFrame  # the office staff's time-clock blocks (phone, email, admin, meeting, break)

    # ----------------------------------------------------------------- day indexes
    def day_index(self, day) -> int:
        return (pd.Timestamp(day) - pd.Timestamp(self.config.warmup_start)).days

    @property
    def start_index(self) -> int:
        return self.day_index(self.config.start_date)

    @property
    def end_index(self) -> int:
        return self.day_index(self.config.end_date)

    @property
    def snapshot(self) -> np.datetime64:
        return np.datetime64(self.config.snapshot, "s")

    @property
    def history_start(self) -> np.datetime64:
        return paris_to_utc(np.array([np.datetime64(self.config.start_date, "s")]))[0]

    # ----------------------------------------------------------------- customers
    @property
    def exported_customers(self) -> np.ndarray:
        """Customers the sources know: arrived by `end_date` and not gone before the first exported day."""
        arrived = self.customers["arrival_day"].to_numpy() <= self.end_index
        return arrived & (self.behaviour.churn_day >= self.start_index)

    @property
    def churn_instant(self) -> np.ndarray:
        """When each customer is recorded as lost (10:00 Paris on its churn day), NaT if never."""
        churn_day = self.behaviour.churn_day
        dates = np.datetime64(self.config.warmup_start, "D") + np.minimum(churn_day, len(self.calendar)).astype(
            "timedelta64[D]"
        )
        instants = paris_to_utc(dates.astype("datetime64[s]") + np.timedelta64(10 * 3600, "s"))
        return np.where(churn_day < len(self.calendar), instants, np.datetime64("NaT"))

    def true_segments(self) -> np.ndarray:
        """The RFM segment each customer belongs to at `end_date`.

        Long-run profiles hold for customers still active; a recent customer is new whatever its
        profile; a customer gone for over a year is lost, one gone more recently at risk.
        """
        churn_day = self.behaviour.churn_day
        arrival = self.customers["arrival_day"].to_numpy()
        gone = churn_day <= self.end_index
        return np.select(
            [gone & (self.end_index - churn_day > 365), gone, self.end_index - arrival < catalog.NEW_CUSTOMER_DAYS],
            [catalog.LOST, catalog.AT_RISK, catalog.NEW],
            default=self.customers["profile"].to_numpy(),
        )

    def true_segments_at(self, day: int) -> np.ndarray:
        """The RFM segment each customer shows at the end of day index `day`, "" where none is
        visible yet: the same rules as `true_segments` at any date, except that an at-risk or lost
        buying profile shows only once the customer has stopped buying (at least 90 days ago; over
        55% of the history ago reads as lost, the boundary between the two profiles' draws).
        Customers not arrived by `day` get ""."""
        churn_day = self.behaviour.churn_day
        arrival = self.customers["arrival_day"].to_numpy()
        dormancy = self.customers["dormancy_day"].to_numpy()
        profile = self.customers["profile"].to_numpy()
        history_days = (self.config.end_date - self.config.start_date).days
        gone = churn_day <= day
        dormant_days = day - dormancy
        fading = np.isin(profile, [catalog.AT_RISK, catalog.LOST])
        return np.select(
            [
                arrival > day,
                gone & (day - churn_day > 365),
                gone,
                day - arrival < catalog.NEW_CUSTOMER_DAYS,
                fading & (dormant_days >= 0.55 * history_days),
                fading & (dormant_days >= 90),
                fading,
            ],
            ["", catalog.LOST, catalog.AT_RISK, catalog.NEW, catalog.LOST, catalog.AT_RISK, ""],
            default=profile,
        )

    def churn_panel(self) -> pd.DataFrame:
        """Every customer active at each month end of the history (and at `end_date`): the chance
        it leaves within the next 180 days and whether it did.

        The probability is the one `churn_truth` writes, taken at each month start: 1 - (1 - h)^6
        with h the monthly hazard the simulation drew that customer's fate with on the 1st
        following the month end (features of the days up to the month end), held for six months.
        The as-of date is the month end, as the warehouse's feature marts date their snapshots.
        """
        arrival = self.customers["arrival_day"].to_numpy()
        churn_day = self.behaviour.churn_day
        frames = []
        for month_start, hazard in sorted(self.behaviour.monthly_hazards.items()):
            as_of = month_start - 1
            if not self.start_index <= as_of <= self.end_index:
                continue
            active = np.flatnonzero((arrival <= as_of) & (churn_day > as_of))
            frames.append(
                pd.DataFrame(
                    {
                        "as_of_day": as_of,
                        "customer": active,
                        "churn_prob_180d": np.round(1 - (1 - hazard[active]) ** 6, 5),
                        "churned_within_180d": churn_day[active] <= as_of + 180,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def churn_truth(self) -> pd.DataFrame:
        """Customers active at `end_date`: chance of leaving within 180 days and whether they did."""
        arrival = self.customers["arrival_day"].to_numpy()
        churn_day = self.behaviour.churn_day
        active = (arrival <= self.end_index) & (churn_day > self.end_index)
        probability = probability_within(self.behaviour.features_at_end, months=6)
        churned = churn_day <= self.end_index + 180
        return pd.DataFrame(
            {
                "customer": np.flatnonzero(active),
                "churn_prob_180d": np.round(probability[active], 4),
                "churned_within_180d": churned[active],
                "latent_dissatisfaction": np.round(self.behaviour.dissatisfaction_at_end[active], 3),
            }
        )


def _quiet(stage: str, count: int, unit: str = "rows") -> None:
    """Default progress callback: say nothing."""


def build_world(config: WorldConfig, progress: Callable[[str, int, str], None] = _quiet) -> World:
    """Simulate the whole period; `progress(stage, count, unit)` is called after each stage."""
    calendar = build_calendar(config)
    progress("calendar", len(calendar), "days")
    customers = build_customers(config, calendar)
    leads = build_leads(config, customers)
    agents = build_agents(config)
    technicians = build_technicians(config)
    unknown_numbers = build_unknown_numbers(config, customers, leads)
    progress("people", len(customers) + len(leads) + len(agents) + len(technicians), "rows")
    behaviour = simulate_behaviour(config, calendar, customers, len(technicians))
    progress("behaviour", len(behaviour.calls) + len(behaviour.tickets) + len(behaviour.interventions), "events")
    calls = build_calls(config, calendar, customers, behaviour.calls, unknown_numbers, agents, technicians)
    progress("calls", len(calls), "rows")
    conversations = build_conversations(config, calendar, behaviour.tickets, behaviour.nps, calls, agents)
    progress("tickets", len(conversations.tickets) + len(conversations.invitations), "rows")
    field = build_field_work(config, customers, technicians, behaviour.interventions, behaviour.quotes)
    progress("field work", len(field.interventions) + len(field.time_entries), "rows")
    ledger = build_ledger(
        config, customers, field.interventions, behaviour.quotes, field.field_quotes, behaviour.churn_day
    )
    progress("ledger", len(ledger.documents) + len(ledger.lines), "rows")
    general_ledger = build_general_ledger(config, calendar, agents, technicians, calls)
    progress("general ledger", len(general_ledger.lines), "rows")
    portal = build_portal_traffic(config, calendar, field.interventions, conversations.tickets)
    progress("portal visits", len(portal.visits), "rows")
    mailbox = build_mailbox(config, calendar, customers, conversations.tickets)
    progress("mailbox", len(mailbox.messages), "rows")
    office_time = build_office_time(config, calendar, agents, calls, conversations.tickets)
    field.time_entries, office_time = number_time_entries(field.time_entries, office_time)
    progress("office time", len(office_time), "rows")
    customers, leads = _with_crm_ids(config, customers, leads)
    return World(
        config=config,
        calendar=calendar,
        customers=customers,
        leads=leads,
        agents=agents,
        technicians=technicians,
        unknown_numbers=unknown_numbers,
        behaviour=behaviour,
        calls=calls,
        conversations=conversations,
        field=field,
        ledger=ledger,
        general_ledger=general_ledger,
        portal=portal,
        mailbox=mailbox,
        office_time=office_time,
    )


def _with_crm_ids(
    config: WorldConfig, customers: pd.DataFrame, leads: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """HubSpot contact ids: numeric, increasing in creation order (customers and leads), with gaps."""
    rng = component_rng(config.seed, "crm_ids")
    created = pd.concat(
        [
            pd.DataFrame(
                {"kind": "customer", "index": customers.index, "created": pd.to_datetime(customers["signup_date"])}
            ),
            pd.DataFrame({"kind": "lead", "index": leads.index, "created": pd.to_datetime(leads["created_date"])}),
        ],
        ignore_index=True,
    ).sort_values(["created", "kind", "index"], kind="stable")
    created["crm_id"] = FIRST_CRM_CONTACT_ID + np.cumsum(rng.integers(1, 4, len(created))) - 1
    ids = created.set_index(["kind", "index"])["crm_id"]
    return (
        customers.assign(crm_contact_id=ids.loc["customer"].reindex(customers.index).astype(str).to_numpy()),
        leads.assign(crm_contact_id=ids.loc["lead"].reindex(leads.index).astype(str).to_numpy()),
    )
