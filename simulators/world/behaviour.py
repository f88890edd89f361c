"""The day-by-day customer model: latent dissatisfaction, contacts, interventions, quotes, churn.

Each customer carries a latent dissatisfaction D (0 when content). Episodes of rising D start at
random or after a badly late intervention. D shifts what the customer does: more complaints,
lower scores, fewer accepted quotes, fewer calls. Once a month every customer may leave with a
hazard computed only from the features of its own past activity (`churn.monthly_hazard`), so
churn is caused by what the sources show, and unhappy customers show it before they leave.

This module decides what happens on which day to whom; `calls`, `tickets`, `field` and
`ledger` later dress each event with times, people and identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.catalog import BREAKDOWN, DEVIS, EMAIL, FORM, INSTALLATION, MAINTENANCE, PHONE, RECLAMATION
from simulators.world.churn import ActivityTrail, monthly_hazard
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

# Shares of λ(d): outbound calls happen on business days only; unknown callers are prospects.
OUTBOUND_SHARE_OPEN_DAY = 0.14
UNKNOWN_SHARE = 0.075
NIGHT_LINE_KNOWN_SHARE = 0.8
PHONE_TICKET_RATE = 0.72
EMAIL_TICKETS_PER_DAY = 21.0
FORM_TICKETS_PER_DAY = 7.5
EMAIL_WEEKDAY = np.array([1.3, 1.15, 1.1, 1.08, 1.0, 0.2, 0.12])
FORM_WEEKDAY = np.array([1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.35])
INTERVENTIONS_PER_OPEN_DAY = 15.0
VISITS_PER_TECHNICIAN_DAY = 4.6
CSAT_INVITATION_RATE = 0.45
NPS_EVERY_DAYS = 120
OFFICE_QUOTE_RATE = 0.09  # share of DEVIS tickets that become a Sage quote
FIELD_QUOTE_RATE = 0.15  # share of done maintenance / breakdown visits with a quote
CHURN_FROM_DAY = 90  # hazards start once the trailing windows hold a quarter of activity

# Latent dissatisfaction.
EPISODE_ONSETS_PER_YEAR = 0.25
EPISODE_RECOVERY = 0.6
LATE_VISIT_SHOCK = 0.6
LATE_VISIT_TRIGGERS_EPISODE = 0.25
ENGAGEMENT_DROP = 0.45  # calls fall as exp(-0.45 D)

# Motive mix (003: RDV SAV 35 %, devis 28 %, réclamation 18 %) before D and the weather shift it.
CALL_MOTIVE_SHARES = np.array([0.37, 0.30, 0.12, 0.09, 0.08, 0.04])
EMAIL_MOTIVE_SHARES = np.array([0.33, 0.30, 0.14, 0.13, 0.09, 0.01])
FORM_MOTIVE_SHARES = np.array([0.55, 0.30, 0.06, 0.02, 0.07, 0.0001])
COMPLAINT_PER_D = 0.9

CALL_HOUR_WEIGHTS = np.array([0.02, 0.09, 0.15, 0.14, 0.11, 0.06, 0.07, 0.11, 0.10, 0.08, 0.05, 0.02])  # 7h..18h


@dataclass
class Behaviour:
    calls: pd.DataFrame  # calls from/to known customers
    tickets: pd.DataFrame
    nps: pd.DataFrame
    interventions: pd.DataFrame
    quotes: pd.DataFrame
    churn_day: np.ndarray  # per customer, n_days + 1 when it never leaves within the horizon
    dissatisfaction_at_end: np.ndarray
    features_at_end: pd.DataFrame
    vip_low_satisfaction: pd.DataFrame
    trail: ActivityTrail
    # The hazard every customer faced at each month start (day index -> per-customer array): the
    # churn ground truth at every month of the history, not only at the end date.
    monthly_hazards: dict[int, np.ndarray]


def _softmax_draw(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    if len(logits) == 0:
        return np.zeros(0, np.int64)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    return (rng.random((len(logits), 1)) > cumulative).sum(axis=1).clip(0, logits.shape[1] - 1)


def _motives(rng: np.random.Generator, shares: np.ndarray, dissatisfaction: np.ndarray, wave: bool) -> np.ndarray:
    logits = np.tile(np.log(shares), (len(dissatisfaction), 1))
    logits[:, RECLAMATION] += COMPLAINT_PER_D * dissatisfaction
    if wave:
        logits[:, catalog.URGENCE_PANNE] += 0.9
        logits[:, catalog.RDV_SAV] += 0.3
    return _softmax_draw(rng, logits)


def _scaled_profile(
    calendar: pd.DataFrame, weekday_factors: np.ndarray, mean_per_day: float, scale: float
) -> np.ndarray:
    holiday = np.where(calendar["is_holiday"], 0.25, 1.0)
    shape = (
        weekday_factors[calendar["weekday"]]
        * calendar["season"] ** 0.7
        * calendar["weather_factor"] ** 0.6
        * calendar["trend"]
        * holiday
    ).to_numpy()
    return shape / shape.mean() * mean_per_day * scale


class _Events:
    """Per-day event arrays, concatenated into tables at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, list[dict[str, np.ndarray]]] = {}

    def add(self, table: str, **columns: np.ndarray) -> None:
        self.parts.setdefault(table, []).append(columns)

    def frame(self, table: str, columns: dict[str, str]) -> pd.DataFrame:
        parts = self.parts.get(table, [])
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
        return pd.DataFrame({c: np.concatenate([p[c] for p in parts]).astype(t) for c, t in columns.items()})


def simulate_behaviour(
    config: WorldConfig, calendar: pd.DataFrame, customers: pd.DataFrame, technician_count: int
) -> Behaviour:
    rng = component_rng(config.seed, "behaviour")
    n_days, n = len(calendar), len(customers)
    end_index = (config.end_date - config.warmup_start).days
    arrival = customers["arrival_day"].to_numpy()
    signup_day = (pd.to_datetime(customers["signup_date"]) - pd.Timestamp(config.warmup_start)).dt.days.to_numpy()
    dormancy = customers["dormancy_day"].to_numpy()
    is_pro = (customers["customer_type"] == "professionnel").to_numpy()
    profile = customers["profile"]
    engagement = profile.map(catalog.PROFILE_ENGAGEMENT).to_numpy() * np.where(is_pro, 1.5, 1.0)
    demand = profile.map(catalog.PROFILE_INTERVENTIONS).to_numpy() * np.where(is_pro, 1.2, 1.0)
    is_vip = customers["vip"].to_numpy()

    day_calls = calendar["day_calls_expected"].to_numpy() * calendar["dispersion"].to_numpy()
    is_open = calendar["is_open"].to_numpy()
    outbound_share = np.where(is_open, OUTBOUND_SHARE_OPEN_DAY, 0.0)
    known_inbound = day_calls * (1 - outbound_share) * (1 - UNKNOWN_SHARE)
    outbound = day_calls * outbound_share
    night_known = (calendar["night_calls_expected"] * calendar["dispersion"]).to_numpy() * NIGHT_LINE_KNOWN_SHARE
    typical_load = np.median(known_inbound[is_open])
    answer_rate = np.clip(0.93 - 0.22 * (known_inbound / typical_load - 1), 0.55, 0.96)
    email_rate = (
        _scaled_profile(calendar, EMAIL_WEEKDAY, EMAIL_TICKETS_PER_DAY, config.scale)
        * calendar["dispersion"].to_numpy()
    )
    form_rate = (
        _scaled_profile(calendar, FORM_WEEKDAY, FORM_TICKETS_PER_DAY, config.scale) * calendar["dispersion"].to_numpy()
    )
    weekday = calendar["weekday"].to_numpy()
    visit_shape = (
        np.where(is_open, 1.0, np.where(weekday == 5, 0.08, 0.03))
        * (calendar["season"] ** 0.5 * calendar["weather_factor"] * calendar["trend"]).to_numpy()
    )
    visit_rate = visit_shape / visit_shape[is_open].mean() * INTERVENTIONS_PER_OPEN_DAY * config.scale
    on_wave = (calendar["weather_event"] != "").to_numpy()
    day_of_month = pd.to_datetime(calendar["date"]).dt.day.to_numpy()
    days_in_month = pd.to_datetime(calendar["date"]).dt.days_in_month.to_numpy()

    trail = ActivityTrail(n_days, n, arrival, signup_day)
    events = _Events()
    dissatisfaction = np.zeros(n)
    target = np.zeros(n)
    episode_end = np.full(n, np.iinfo(np.int64).max)
    churn_day = np.full(n, n_days + 1, dtype=np.int64)
    next_nps = arrival + rng.integers(10, NPS_EVERY_DAYS, n)
    pending_installations: dict[int, list[tuple[int, int]]] = {}  # day -> [(customer, quote row)]
    quote_rows = 0
    intervention_rows = 0
    ticket_rows = 0
    shock = np.zeros(n)
    planted_vips = np.zeros(0, np.int64)
    planted_days = np.zeros(0, np.int64)
    monthly_hazards: dict[int, np.ndarray] = {}
    next_open = _next_open_day(is_open)
    visit_capacity = round(VISITS_PER_TECHNICIAN_DAY * technician_count)
    backlog = (np.zeros(0, int), np.zeros(0, int), np.zeros(0, int))  # visits waiting for a free slot

    for t in range(n_days):
        alive = (arrival <= t) & (t < churn_day)
        # ---- latent dissatisfaction
        onset = alive & (target == 0) & (rng.random(n) < EPISODE_ONSETS_PER_YEAR / 365)
        onset |= alive & (shock > 0) & (target == 0) & (rng.random(n) < LATE_VISIT_TRIGGERS_EPISODE)
        target = np.where(onset, rng.gamma(4.0, 0.5, n), target)
        episode_end = np.where(onset, t + rng.integers(60, 200, n), episode_end)
        # At its end an episode either resolves or drags on for another stretch.
        ending = episode_end == t
        recovers = ending & (rng.random(n) < EPISODE_RECOVERY)
        target = np.where(recovers, 0.0, target)
        episode_end = np.where(ending & ~recovers, t + rng.integers(60, 200, n), episode_end)
        rate = np.where(target > dissatisfaction, 1 / 60, 1 / 50)
        dissatisfaction = dissatisfaction + (target - dissatisfaction) * rate + shock
        shock = np.zeros(n)
        if t == end_index - 21:
            # Planted: a few VIP customers turn very unhappy in the last weeks (critical alert in 003).
            candidates = np.flatnonzero(alive & is_vip & (dormancy > end_index))
            count = min(len(candidates), max(2, round(2 * config.scale)))
            planted_vips = np.sort(rng.choice(candidates, size=count, replace=False))
            target[planted_vips] = dissatisfaction[planted_vips] = 2.8
            episode_end[planted_vips] = np.iinfo(np.int64).max
            planted_days = end_index - rng.integers(1, 7, count)

        dormant = t >= dormancy
        ramp = np.where((arrival > 0) & (t - arrival < 90), 0.5, 1.0)
        activity = alive * ramp * np.where(dormant, 0.15, 1.0)
        call_weight = engagement * activity * np.exp(-ENGAGEMENT_DROP * dissatisfaction)
        share = call_weight / max(call_weight.sum(), 1e-12)

        # ---- calls
        wave = bool(on_wave[t])
        quote_requests: list[np.ndarray] = []
        for channel, expected in (("day", known_inbound[t]), ("night", night_known[t]), ("outbound", outbound[t])):
            who = np.repeat(np.arange(n), rng.poisson(expected * share))
            motive = (
                np.full(len(who), catalog.URGENCE_PANNE)
                if channel == "night"
                else _motives(rng, CALL_MOTIVE_SHARES, dissatisfaction[who], wave)
            )
            hour = rng.choice(12, size=len(who), p=CALL_HOUR_WEIGHTS / CALL_HOUR_WEIGHTS.sum()) + 7
            second = hour * 3600 + rng.integers(0, 3600, len(who))
            if channel == "outbound":
                second = np.clip(second, 8 * 3600 + 300, 18 * 3600 - 900)
            staffed = is_open[t] & (second >= 8 * 3600) & (second < 18 * 3600)
            draw = rng.random(len(who))
            if channel == "night":
                outcome = np.where(draw < 0.85, "answered", np.where(draw < 0.9, "missed", "voicemail"))
            elif channel == "outbound":
                outcome = np.where(draw < 0.7, "answered", np.where(draw < 0.85, "missed", "voicemail"))
            else:
                rest = np.where(rng.random(len(who)) < 0.55, "missed", "voicemail")
                closed_rest = np.where(rng.random(len(who)) < 0.35, "missed", "voicemail")
                outcome = np.where(staffed, np.where(draw < answer_rate[t], "answered", rest), closed_rest)
            makes_ticket = (channel == "day") & (outcome == "answered") & (rng.random(len(who)) < PHONE_TICKET_RATE)
            call_index = np.arange(len(who))
            events.add(
                "calls",
                day=np.full(len(who), t),
                customer=who,
                channel=np.full(len(who), channel),
                motive=motive,
                second_of_day=np.where(channel == "night", -1, second),
                outcome=outcome,
                ticket=makes_ticket,
                day_rank=call_index,
            )
            if channel != "outbound":
                np.add.at(trail.calls[t], who, 1)
                trail.touch(t, who)
            phone = makes_ticket.nonzero()[0]
            ticket_rows = _add_tickets(
                events, rng, t, who[phone], PHONE, motive[phone], dissatisfaction, trail, ticket_rows, call_rank=phone
            )
            quote_requests.append(who[phone][motive[phone] == DEVIS])

        # ---- e-mails and portal forms
        ticket_weight = engagement * activity * np.exp(-0.2 * dissatisfaction)
        ticket_share = ticket_weight / max(ticket_weight.sum(), 1e-12)
        for source, expected, shares in (
            (EMAIL, email_rate[t], EMAIL_MOTIVE_SHARES),
            (FORM, form_rate[t], FORM_MOTIVE_SHARES),
        ):
            who = np.repeat(np.arange(n), rng.poisson(expected * ticket_share))
            motive = _motives(rng, shares, dissatisfaction[who], wave)
            trail.touch(t, who)
            ticket_rows = _add_tickets(events, rng, t, who, source, motive, dissatisfaction, trail, ticket_rows)
            quote_requests.append(who[motive == DEVIS])
        planted_today = planted_vips[(planted_days == t) & alive[planted_vips]]
        if len(planted_today):
            ticket_rows = _add_tickets(
                events, rng, t, planted_today, EMAIL, np.full(len(planted_today), RECLAMATION), dissatisfaction, trail,
                ticket_rows, forced_score=1,
            )  # fmt: skip

        # ---- office quotes: some DEVIS requests become a Sage quote without a field visit
        requests = np.concatenate(quote_requests)
        office = requests[rng.random(len(requests)) < OFFICE_QUOTE_RATE]
        if len(office):
            amount = np.round(rng.lognormal(np.log(1900), 0.6, len(office)) * np.where(is_pro[office], 1.5, 1.0), -1)
            quote_rows = _add_quotes(
                events, rng, t, office, "office", amount, np.full(len(office), -1), dissatisfaction[office], trail,
                pending_installations, quote_rows, next_open,
            )  # fmt: skip

        # ---- interventions
        visit_weight = demand * alive * ramp * ~dormant
        count = rng.poisson(visit_rate[t])
        who = rng.choice(n, size=count, p=visit_weight / visit_weight.sum()) if count else np.zeros(0, int)
        # Weekend visits are emergencies; cold and heat waves bring breakdowns.
        maintenance_share = (0.5 if is_open[t] else 0.0) - (0.15 if wave else 0.0)
        kind = np.where(rng.random(count) < maintenance_share, MAINTENANCE, BREAKDOWN)
        source_quote = -np.ones(count, int)
        booked = [(c, q) for c, q in pending_installations.pop(t, []) if alive[c]]
        if booked:
            who = np.concatenate([who, [c for c, _ in booked]]).astype(int)
            kind = np.concatenate([kind, np.full(len(booked), INSTALLATION)])
            source_quote = np.concatenate([source_quote, [q for _, q in booked]])
        # A technician's day holds a few visits: the rest waits for the next business day, oldest
        # first; at weekends only emergencies go out and the backlog waits for Monday.
        still_alive = alive[backlog[0]]
        waiting = tuple(column[still_alive] for column in backlog)
        if is_open[t]:
            queue = [
                np.concatenate([w, today]).astype(int)
                for w, today in zip(waiting, (who, kind, source_quote), strict=True)
            ]
            backlog = tuple(column[visit_capacity:] for column in queue)
            who, kind, source_quote = (column[:visit_capacity] for column in queue)
        else:
            backlog = tuple(
                np.concatenate([w, today[technician_count:]]).astype(int)
                for w, today in zip(waiting, (who, kind, source_quote), strict=True)
            )
            who, kind, source_quote = who[:technician_count], kind[:technician_count], source_quote[:technician_count]
        if len(who):
            day_load = count / visit_rate[t] if is_open[t] else 1.0
            visits = _add_interventions(
                events, rng, t, who, kind, source_quote, dissatisfaction, trail, day_load, intervention_rows
            )
            intervention_rows += len(who)
            np.add.at(shock, visits["customer"][visits["big_delay"]], LATE_VISIT_SHOCK)
            quoting = (
                (~visits["cancelled"]) & (visits["kind"] != INSTALLATION) & (rng.random(len(who)) < FIELD_QUOTE_RATE)
            )
            quoted = visits["customer"][quoting]
            if len(quoted):
                amount = np.round(
                    rng.lognormal(np.log(440), 0.75, len(quoted)) * np.where(is_pro[quoted], 1.4, 1.0), -1
                )
                quote_rows = _add_quotes(
                    events, rng, t, quoted, "field", amount.clip(90, 15000), visits["row"][quoting],
                    dissatisfaction[quoted], trail, pending_installations, quote_rows, next_open,
                )  # fmt: skip

        # ---- NPS survey every ~4 months
        surveyed = np.flatnonzero(alive & (next_nps <= t))
        if len(surveyed):
            d = dissatisfaction[surveyed]
            responded = rng.random(len(surveyed)) < np.clip(0.62 - 0.05 * d, 0.3, 0.9)
            score = np.clip(np.round(9.1 - 1.5 * d + rng.normal(0, 1.45, len(surveyed))), 0, 10)
            events.add("nps", day=np.full(len(surveyed), t), customer=surveyed, responded=responded, score=score)
            next_nps[surveyed] = t + NPS_EVERY_DAYS + rng.integers(-10, 11, len(surveyed))

        # ---- churn, once a month
        if t == end_index:
            dissatisfaction_at_end = dissatisfaction.copy()
        if t == end_index + 1:
            features_at_end = trail.features(t)
        if day_of_month[t] == 1 and t >= CHURN_FROM_DAY:
            hazard = monthly_hazard(trail.features(t))
            monthly_hazards[t] = hazard
            protected = np.isin(np.arange(n), planted_vips) & (t <= end_index)
            leaves = alive & ~protected & (rng.random(n) < hazard)
            churn_day = np.where(leaves, t + rng.integers(0, days_in_month[t], n), churn_day)

    return Behaviour(
        calls=events.frame(
            "calls",
            {
                "day": "int64",
                "customer": "int64",
                "channel": "object",
                "motive": "int64",
                "second_of_day": "int64",
                "outcome": "object",
                "ticket": "bool",
                "day_rank": "int64",
            },
        ),  # fmt: skip
        tickets=events.frame(
            "tickets",
            {
                "row": "int64",
                "day": "int64",
                "customer": "int64",
                "source": "int64",
                "motive": "int64",
                "call_rank": "int64",
                "csat_invited": "bool",
                "csat_responded": "bool",
                "csat_score": "float64",
                "planted": "bool",
            },
        ),  # fmt: skip
        nps=events.frame("nps", {"day": "int64", "customer": "int64", "responded": "bool", "score": "float64"}),
        interventions=events.frame(
            "interventions",
            {
                "row": "int64",
                "day": "int64",
                "customer": "int64",
                "kind": "int64",
                "cancelled": "bool",
                "delay_min": "float64",
                "big_delay": "bool",
                "satisfaction": "float64",
                "source_quote": "int64",
                "day_load": "float64",
            },
        ),  # fmt: skip
        quotes=events.frame(
            "quotes",
            {
                "row": "int64",
                "origin": "object",
                "day": "int64",
                "customer": "int64",
                "intervention": "int64",
                "amount": "float64",
                "outcome": "object",
                "decision_day": "int64",
                "installation_day": "int64",
            },
        ),  # fmt: skip
        churn_day=churn_day,
        dissatisfaction_at_end=dissatisfaction_at_end,
        features_at_end=features_at_end,
        vip_low_satisfaction=pd.DataFrame({"customer": planted_vips, "day": planted_days}),
        trail=trail,
        monthly_hazards=monthly_hazards,
    )


def _next_open_day(is_open: np.ndarray) -> np.ndarray:
    """For each day, the first business day on or after it (len(is_open) past the last one)."""
    following = np.full(len(is_open) + 1, len(is_open))
    for t in range(len(is_open) - 1, -1, -1):
        following[t] = t if is_open[t] else following[t + 1]
    return following


def _add_tickets(
    events: _Events,
    rng: np.random.Generator,
    day: int,
    who: np.ndarray,
    source: int,
    motive: np.ndarray,
    dissatisfaction: np.ndarray,
    trail: ActivityTrail,
    first_row: int,
    call_rank: np.ndarray | None = None,
    forced_score: int | None = None,
) -> int:
    """Record tickets and the CSAT answer each will get; returns the next ticket row."""
    count = len(who)
    if count == 0:
        return first_row
    d = dissatisfaction[who]
    complaint = motive == RECLAMATION
    invited = rng.random(count) < CSAT_INVITATION_RATE
    responded = invited & (rng.random(count) < np.clip(0.64 - 0.05 * d, 0.3, 0.9))
    score = np.clip(np.round(4.45 - 0.7 * d - 0.35 * complaint + rng.normal(0, 0.75, count)), 1, 5)
    if forced_score is not None:
        invited[:] = responded[:] = True
        score[:] = forced_score
    np.add.at(trail.complaints[day], who, complaint)
    np.add.at(trail.satisfaction_sum[day], who, np.where(responded, score, 0))
    np.add.at(trail.satisfaction_count[day], who, responded)
    events.add(
        "tickets",
        row=np.arange(first_row, first_row + count),
        day=np.full(count, day),
        customer=who,
        source=np.full(count, source),
        motive=motive,
        call_rank=np.full(count, -1) if call_rank is None else call_rank,
        csat_invited=invited,
        csat_responded=responded,
        csat_score=np.where(responded, score, np.nan),
        planted=np.full(count, forced_score is not None),
    )
    return first_row + count


def _add_interventions(
    events: _Events,
    rng: np.random.Generator,
    day: int,
    who: np.ndarray,
    kind: np.ndarray,
    source_quote: np.ndarray,
    dissatisfaction: np.ndarray,
    trail: ActivityTrail,
    day_load: float,
    first_row: int,
) -> dict[str, np.ndarray]:
    """Record the day's visits: lateness (more on overloaded days) and the on-site score."""
    count = len(who)
    cancelled = rng.random(count) < 0.04
    big_delay = ~cancelled & (rng.random(count) < 0.07 * (1 + 1.5 * max(day_load - 1, 0)))
    delay = np.where(big_delay, 30 + rng.gamma(2.0, 25.0, count), np.clip(rng.normal(4, 9, count), -15, 35))
    delay = np.where(cancelled, np.nan, np.round(delay))
    scored = ~cancelled & (rng.random(count) < 0.7)
    mean_score = 4.55 - 0.7 * dissatisfaction[who] - 1.0 * big_delay
    score = np.where(scored, np.clip(np.round(mean_score + rng.normal(0, 0.6, count)), 1, 5), np.nan)
    done = ~cancelled
    np.add.at(trail.delay_sum[day], who[done], np.clip(delay[done], 0, None))
    np.add.at(trail.delay_count[day], who[done], 1)
    np.add.at(trail.satisfaction_sum[day], who[scored], score[scored])
    np.add.at(trail.satisfaction_count[day], who[scored], 1)
    trail.touch(day, who[done])
    visits = {
        "row": np.arange(first_row, first_row + count),
        "day": np.full(count, day),
        "customer": who,
        "kind": kind,
        "cancelled": cancelled,
        "delay_min": delay,
        "big_delay": big_delay,
        "satisfaction": score,
        "source_quote": source_quote,
        "day_load": np.full(count, day_load),
    }
    events.add("interventions", **visits)
    return visits


def _add_quotes(
    events: _Events,
    rng: np.random.Generator,
    day: int,
    who: np.ndarray,
    origin: str,
    amount: np.ndarray,
    intervention: np.ndarray,
    dissatisfaction: np.ndarray,
    trail: ActivityTrail,
    pending_installations: dict[int, list[tuple[int, int]]],
    first_row: int,
    next_open: np.ndarray,
) -> int:
    """Quotes and their fate: unhappy customers accept fewer; an accepted quote books an installation."""
    count = len(who)
    n_days = trail.calls.shape[0]
    bias = 0.35 if origin == "field" else 0.0
    accepted = rng.random(count) < 1 / (1 + np.exp(-(bias - 1.1 * dissatisfaction)))
    refused = ~accepted & (rng.random(count) < 0.6)
    outcome = np.where(accepted, "accepted", np.where(refused, "refused", "expired"))
    lag = np.where(accepted | refused, 1 + np.round(rng.gamma(1.5, 4.0, count)), 30).astype(int)
    decision_day = day + lag
    unvalidated = ~accepted & (decision_day < n_days)
    np.add.at(trail.unvalidated, (decision_day[unvalidated], who[unvalidated]), 1)
    wanted_day = np.minimum(decision_day + rng.integers(7, 35, count), n_days)
    installation_day = np.where(accepted, next_open[wanted_day], -1)
    rows = np.arange(first_row, first_row + count)
    for customer, row, install in zip(who, rows, installation_day, strict=True):
        if 0 <= install < n_days:
            pending_installations.setdefault(int(install), []).append((int(customer), int(row)))
    events.add(
        "quotes",
        row=rows,
        origin=np.full(count, origin),
        day=np.full(count, day),
        customer=who,
        intervention=intervention,
        amount=amount,
        outcome=outcome,
        decision_day=decision_day,
        installation_day=np.where(installation_day < n_days, installation_day, -1),
    )
    return first_row + count
