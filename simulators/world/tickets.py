"""Ticket lifecycles and surveys: creation, agent replies in business hours, closure, CSAT and NPS.

Agents work Mon-Fri 08:00-18:00 Paris and reply in business time, slower on busy days, so a
ticket sent on Friday evening waits until Monday and the calendar-hour and business-hour
reply times differ. A ticket is resolved at first contact when the first reply closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.catalog import PHONE
from simulators.world.clock import BusinessHours, paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

FIRST_CONTACT_RESOLUTION = np.array([0.78, 0.64, 0.46, 0.74, 0.87, 0.72])  # by motive
EMAIL_FIRST_REPLY_HOURS = 4.8  # business hours, on an average day
PHONE_FOLLOW_UP_HOURS = 3.2
OFF_HOURS_REPLY_RATE = 0.15  # of tickets sent out of hours, answered that evening or weekend
LONG_WAIT_ON_CONTACT_RATE = 0.01
REOPEN_RATE = 0.1
HOURS = 3600

SUBJECTS = {
    "RDV_SAV": ("Demande de rendez-vous SAV", "Prise de RDV entretien", "RDV pour contrôle chaudière", "Planifier une visite technicien"),
    "DEVIS": ("Demande de devis", "Devis remplacement chaudière", "Devis climatisation", "Chiffrage pompe à chaleur"),
    "RECLAMATION": ("Réclamation intervention", "Mécontentement suite à visite", "Retard du technicien", "Problème non résolu"),
    "FACTURATION": ("Question sur ma facture", "Erreur de facturation", "Demande de duplicata de facture", "Échéancier de paiement"),
    "INFORMATION": ("Demande d'information", "Horaires et zone d'intervention", "Question contrat d'entretien", "Informations garantie"),
    "URGENCE_PANNE": ("Panne de chauffage", "Plus d'eau chaude", "Urgence : fuite", "Climatisation en panne"),
}  # fmt: skip
CONTENT = {
    "RDV_SAV": "Bonjour, je souhaiterais convenir d'un rendez-vous pour une intervention. Merci de me proposer un créneau.",
    "DEVIS": "Bonjour, pourriez-vous m'établir un devis ? Je reste disponible pour une visite.",
    "RECLAMATION": "Bonjour, je ne suis pas satisfait(e) de la dernière intervention et souhaite une solution rapide.",
    "FACTURATION": "Bonjour, j'ai une question concernant ma dernière facture.",
    "INFORMATION": "Bonjour, j'aurais besoin de quelques informations sur vos prestations.",
    "URGENCE_PANNE": "Bonjour, mon installation est en panne depuis ce matin, pouvez-vous intervenir rapidement ?",
}
EMAIL_HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 2, 5, 9, 10, 9, 8, 6, 7, 8, 8, 7, 6, 5, 5, 4, 3, 2, 1], float)


@dataclass
class Conversations:
    tickets: pd.DataFrame
    invitations: pd.DataFrame
    submissions: pd.DataFrame


def _business_hours(calendar: pd.DataFrame) -> BusinessHours:
    """The company's opening days, padded past the horizon so replies near its end still land after their ticket."""
    days = np.array(calendar["date"], dtype="datetime64[D]")
    padding = days[-1] + np.arange(1, 61).astype("timedelta64[D]")
    padding_open = pd.DatetimeIndex(padding).day_of_week < 5
    return BusinessHours(
        np.concatenate([days, padding]), np.concatenate([calendar["is_open"].to_numpy(), padding_open])
    )


def _wall_times(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    hour = rng.choice(24, size=len(dates), p=EMAIL_HOUR_WEIGHTS / EMAIL_HOUR_WEIGHTS.sum())
    seconds = hour * HOURS + rng.integers(0, HOURS, len(dates))
    return dates.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def build_conversations(
    config: WorldConfig,
    calendar: pd.DataFrame,
    core_tickets: pd.DataFrame,
    core_nps: pd.DataFrame,
    calls: pd.DataFrame,
    agents: pd.DataFrame,
) -> Conversations:
    rng = component_rng(config.seed, "tickets")
    business = _business_hours(calendar)
    first_day = np.datetime64(config.warmup_start, "D")
    tickets = core_tickets.copy()
    n = len(tickets)
    dates = first_day + tickets["day"].to_numpy().astype("timedelta64[D]")
    source = tickets["source"].to_numpy()
    motive = tickets["motive"].to_numpy()

    # Phone tickets are written while the agent who took the call is still on it.
    answered = calls[(calls["channel"] == "day") & (calls["known_rank"] >= 0)]
    linked = tickets[["day", "call_rank"]].merge(
        answered[["day", "known_rank", "end_utc", "agent_id"]],
        left_on=["day", "call_rank"], right_on=["day", "known_rank"], how="left",
    )  # fmt: skip
    created = paris_to_utc(_wall_times(rng, dates))
    is_phone = source == PHONE
    created[is_phone] = linked["end_utc"].to_numpy()[is_phone]
    agent_index = rng.choice(len(agents), size=n, p=agents["weight"].to_numpy())
    by_extension = {ext: i for i, ext in enumerate(agents["agent_id"])}
    phone_agent = linked["agent_id"].map(by_extension).fillna(-1).astype(int).to_numpy()
    agent_index = np.where(is_phone & (phone_agent >= 0), phone_agent, agent_index)

    # Busy days slow every reply down.
    per_day = np.bincount(tickets["day"], minlength=len(calendar)).astype(float)
    typical = np.median(per_day[calendar["is_open"].to_numpy() & (per_day > 0)]) if n else 1.0
    load = np.clip(per_day[tickets["day"]] / typical, 0.5, 2.5)

    resolved_first = rng.random(n) < FIRST_CONTACT_RESOLUTION[motive]
    created_wall = utc_to_paris(created)
    mean_hours = np.where(is_phone, PHONE_FOLLOW_UP_HOURS, EMAIL_FIRST_REPLY_HOURS) * load
    business_delay = (rng.gamma(3.0, mean_hours / 3.0) * HOURS).astype("int64")
    first_reply = paris_to_utc(business.add(created_wall, business_delay))
    off_hours = (business.elapsed(created_wall, created_wall + np.timedelta64(1, "s")) == 0) & (
        rng.random(n) < OFF_HOURS_REPLY_RATE
    )
    evening_reply = created + (rng.exponential(1.5 * HOURS, n).astype("int64") + 300).astype("timedelta64[s]")
    first_reply = np.where(off_hours, np.minimum(evening_reply, first_reply), first_reply)
    on_the_call = is_phone & resolved_first
    first_reply[on_the_call] = created[on_the_call]

    # Further exchanges: the customer answers in calendar time, the agent in business time.
    extra_rounds = np.where(resolved_first, 0, 1 + rng.poisson(0.3, n))
    last_reply = first_reply.copy()
    for round_number in range(1, int(extra_rounds.max(initial=0)) + 1):
        going = extra_rounds >= round_number
        customer_wait = rng.exponential(3 * HOURS, n).astype("int64")
        customer_wait += np.where(rng.random(n) < LONG_WAIT_ON_CONTACT_RATE, rng.integers(3, 11, n) * 24 * HOURS, 0)
        customer_back = utc_to_paris(last_reply + customer_wait.astype("timedelta64[s]"))
        reply = paris_to_utc(business.add(customer_back, (rng.exponential(1 * HOURS, n)).astype("int64")))
        last_reply = np.where(going, reply, last_reply)
    closing_lag = np.where(
        resolved_first, rng.integers(60, 1800, n), rng.exponential(1.5 * HOURS, n).astype("int64") + 300
    )
    closed = last_reply + closing_lag.astype("timedelta64[s]")
    reopens = np.where(~resolved_first & (rng.random(n) < REOPEN_RATE), 1, 0)

    priority = np.select(
        [motive == catalog.URGENCE_PANNE, motive == catalog.RECLAMATION],
        [np.where(rng.random(n) < 0.7, "URGENT", "HIGH"), np.where(rng.random(n) < 0.5, "HIGH", "MEDIUM")],
        default=np.where(rng.random(n) < 0.5, "MEDIUM", "LOW"),
    )
    motive_names = np.array(catalog.MOTIVES)[motive]
    variant = rng.integers(0, 4, n)
    subject = np.array([SUBJECTS[m][v] for m, v in zip(motive_names, variant, strict=True)], dtype=object)
    content = np.array([CONTENT[m] for m in motive_names], dtype=object)

    tickets = tickets.assign(
        created_utc=created,
        first_reply_utc=first_reply,
        last_reply_utc=last_reply,
        closed_utc=closed,
        reply_count=1 + extra_rounds,
        reopen_count=reopens,
        agent=agent_index,
        priority=priority,
        subject=subject,
        content=content,
        waiting_on_contact=rng.random(n) < 0.6,
        source_type=np.array(catalog.TICKET_SOURCES)[source],
        category=motive_names,
    )
    invitations, submissions = _surveys(rng, config, tickets, core_nps)
    return Conversations(tickets=tickets, invitations=invitations, submissions=submissions)


def _surveys(
    rng: np.random.Generator, config: WorldConfig, tickets: pd.DataFrame, core_nps: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSAT after a ticket closes, NPS every few months; answers come hours to days later."""
    csat = tickets[tickets["csat_invited"]]
    csat_sent = csat["closed_utc"].to_numpy() + rng.integers(20 * 60, 3 * HOURS, len(csat)).astype("timedelta64[s]")
    nps_dates = np.datetime64(config.warmup_start, "D") + core_nps["day"].to_numpy().astype("timedelta64[D]")
    nps_wall = nps_dates.astype("datetime64[s]") + rng.integers(10 * HOURS, 12 * HOURS, len(core_nps)).astype(
        "timedelta64[s]"
    )
    invitations = pd.DataFrame(
        {
            "survey_type": np.concatenate([np.full(len(csat), "CSAT"), np.full(len(core_nps), "NPS")]),
            "customer": np.concatenate([csat["customer"].to_numpy(), core_nps["customer"].to_numpy()]),
            "ticket_row": np.concatenate([csat["row"].to_numpy(), np.full(len(core_nps), -1)]),
            "sent_utc": np.concatenate([csat_sent, paris_to_utc(nps_wall)]),
            "responded": np.concatenate([csat["csat_responded"].to_numpy(), core_nps["responded"].to_numpy()]),
            "value": np.concatenate([csat["csat_score"].to_numpy(), core_nps["score"].to_numpy()]),
        }
    )
    invitations = invitations.sort_values(["sent_utc", "survey_type", "customer"], kind="stable").reset_index(drop=True)
    invitations["invitation_row"] = np.arange(len(invitations))
    answered = invitations[invitations["responded"]].copy()
    delay = np.minimum(rng.exponential(20 * HOURS, len(answered)), 6 * 24 * HOURS).astype("int64") + 120
    answered["submitted_utc"] = answered["sent_utc"].to_numpy() + delay.astype("timedelta64[s]")
    submissions = answered.sort_values(["submitted_utc", "invitation_row"], kind="stable").reset_index(drop=True)
    return invitations.drop(columns=["responded", "value"]), submissions[
        ["survey_type", "customer", "ticket_row", "invitation_row", "value", "submitted_utc"]
    ]
