"""Field work: technicians' rounds, intervention schedules and actual times, time entries, field quotes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.catalog import BREAKDOWN, INSTALLATION, MAINTENANCE
from simulators.world.clock import paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

MINUTE = 60
LYON_CENTRE = (45.76, 4.85)
MISSING_CLOCK_IN_RATE = 0.03
# The window promised to the customer at booking, around the slot the office gave the visit: a
# half-day ("le matin", "l'après-midi") or a two-hour window ("9h-11h"), as service desks offer.
HALF_DAY_WINDOW_SHARE = 0.5
MORNING = (8 * 60, 12 * 60 + 30)
AFTERNOON = (12 * 60 + 30, 18 * 60)
BOOKING_CHANNELS = {
    BREAKDOWN: (0.5, 0.22, 0.18, 0.10),  # phone, portal, email, technician
    MAINTENANCE: (0.33, 0.35, 0.15, 0.17),
}
REPORTS = {
    MAINTENANCE: "Entretien annuel réalisé : nettoyage, contrôle combustion et sécurité, attestation remise.",
    BREAKDOWN: "Dépannage effectué : diagnostic, remplacement de la pièce défectueuse, essais de bon fonctionnement.",
    INSTALLATION: "Installation réalisée selon devis, mise en service et explications données au client.",
}


@dataclass
class FieldWork:
    interventions: pd.DataFrame
    time_entries: pd.DataFrame
    missing_time_entries: pd.DataFrame
    field_quotes: pd.DataFrame


def _minutes(values: np.ndarray) -> np.ndarray:
    return (np.asarray(values) * MINUTE).astype("int64").astype("timedelta64[s]")


def _angle(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    return np.arctan2(np.asarray(latitude) - LYON_CENTRE[0], (np.asarray(longitude) - LYON_CENTRE[1]) * 0.7)


def _business_instant(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """A moment during office hours (08:30-17:30 Paris) on each date, as UTC."""
    seconds = rng.integers(int(8.5 * 3600), int(17.5 * 3600), len(dates))
    return paris_to_utc(dates.astype("datetime64[D]").astype("datetime64[s]") + seconds.astype("timedelta64[s]"))


def build_field_work(
    config: WorldConfig,
    customers: pd.DataFrame,
    technicians: pd.DataFrame,
    core_interventions: pd.DataFrame,
    core_quotes: pd.DataFrame,
) -> FieldWork:
    rng = component_rng(config.seed, "field")
    first_day = np.datetime64(config.warmup_start, "D")
    visits = core_interventions.sort_values("row").reset_index(drop=True)
    n = len(visits)
    customer = visits["customer"].to_numpy()
    kind = visits["kind"].to_numpy()
    visits["planned"] = np.select(
        [kind == MAINTENANCE, kind == BREAKDOWN],
        [rng.choice([45, 60, 75, 90], n), rng.choice([45, 60, 75, 90, 120], n)],
        default=rng.choice([120, 180, 240], n),
    )
    visits["travel"] = rng.integers(15, 36, n)
    visits["angle"] = _angle(customers["latitude"].to_numpy()[customer], customers["longitude"].to_numpy()[customer])

    # Rounds: each day's visits sorted around Lyon and cut into one slice of about equal working
    # time per technician, so a technician covers neighbouring places; badly late visits go last
    # (the technician was held up).
    tech_order = np.argsort(_angle(technicians["latitude"], technicians["longitude"]), kind="stable")
    visits = visits.sort_values(["day", "angle", "row"], kind="stable")
    minutes = visits["planned"] + visits["travel"]
    before = minutes.groupby(visits["day"]).cumsum() - minutes
    share = (before / minutes.groupby(visits["day"]).transform("sum")).to_numpy()
    visits["technician"] = tech_order[np.minimum((share * len(technicians)).astype(int), len(technicians) - 1)]
    visits = visits.sort_values(["day", "technician", "big_delay", "angle", "row"], kind="stable").reset_index(
        drop=True
    )
    visits["position"] = visits.groupby(["day", "technician"]).cumcount()
    customer = visits["customer"].to_numpy()
    kind = visits["kind"].to_numpy()
    planned = visits["planned"].to_numpy()
    travel = visits["travel"].to_numpy()
    dates = first_day + visits["day"].to_numpy().astype("timedelta64[D]")
    weekend = pd.DatetimeIndex(dates).day_of_week.to_numpy() >= 5
    wall_midnight = dates.astype("datetime64[s]")
    cancelled = visits["cancelled"].to_numpy()
    delay = np.nan_to_num(visits["delay_min"].to_numpy())
    scheduled = np.empty(n, "datetime64[s]")
    actual_start = np.full(n, np.datetime64("NaT"), "datetime64[s]")
    actual_end = np.full(n, np.datetime64("NaT"), "datetime64[s]")
    duration = np.round(planned * rng.uniform(0.85, 1.15, n))
    position = visits["position"].to_numpy()
    # Walk each round in order: slots follow one another, with a lunch break after noon; a late
    # arrival pushes the following actual starts, never the schedule.
    group_start = np.flatnonzero(position == 0)
    slot = wall_midnight[group_start] + _minutes(np.where(weekend[group_start], 540, 510))
    previous_end = np.full(len(group_start), np.datetime64("NaT"), "datetime64[s]")
    had_lunch = np.zeros(len(group_start), bool)
    group_of = np.repeat(np.arange(len(group_start)), np.diff(np.append(group_start, n)))
    for k in range(int(position.max(initial=-1)) + 1):
        at = np.flatnonzero(position == k)
        group = group_of[at]
        scheduled[at] = slot[group]
        arrival = paris_to_utc(scheduled[at]) + _minutes(delay[at])
        follows = ~np.isnat(previous_end[group])
        arrival = np.where(follows, np.maximum(arrival, previous_end[group] + _minutes(10)), arrival)
        live = ~cancelled[at]
        actual_start[at[live]] = arrival[live]
        actual_end[at[live]] = arrival[live] + _minutes(duration[at][live])
        previous_end[group[live]] = actual_end[at[live]]
        slot_end = slot[group] + _minutes(planned[at])
        lunch = ~had_lunch[group] & (slot_end - wall_midnight[at] >= np.timedelta64(12 * 3600, "s"))
        had_lunch[group] |= lunch
        gap = travel[at] + np.where(lunch, 45, 0)
        slot[group] = slot_end + _minutes(np.ceil(gap / 15) * 15)
    scheduled_start = paris_to_utc(scheduled)
    scheduled_end = scheduled_start + _minutes(planned)
    window_start, window_end = _booked_windows(config, scheduled)

    interventions = visits.rename(columns={"planned": "planned_minutes", "travel": "travel_minutes"}).assign(
        intervention_id=[f"INT-{i + 1:06d}" for i in range(n)],
        scheduled_start_utc=scheduled_start,
        scheduled_end_utc=scheduled_end,
        window_start_utc=window_start,
        window_end_utc=window_end,
        actual_start_utc=actual_start,
        actual_end_utc=actual_end,
        latitude=customers["latitude"].to_numpy()[customer],
        longitude=customers["longitude"].to_numpy()[customer],
    )
    interventions = _bookings(rng, interventions, core_quotes, first_day)
    signed = ~cancelled & (rng.random(n) < 0.88)
    full_name = (customers["first_name"] + " " + customers["last_name"]).to_numpy()[customer]
    interventions["signed_by"] = np.where(signed, full_name, None)
    interventions["report"] = np.where(
        cancelled, "Intervention annulée.", np.array([REPORTS[k] for k in kind], dtype=object)
    )
    interventions["type"] = np.array(catalog.INTERVENTION_TYPES)[kind]
    interventions["synced_utc"] = actual_end + rng.integers(2 * MINUTE, 40 * MINUTE, n).astype("timedelta64[s]")
    # Ids follow creation order across the whole history (as an app database would).
    interventions = interventions.sort_values(["created_utc", "row"], kind="stable").reset_index(drop=True)
    interventions["intervention_id"] = [f"INT-{i + 1:06d}" for i in range(n)]

    time_entries, missing = _time_entries(rng, config, interventions, technicians)
    quotes = _field_quotes(rng, interventions, core_quotes, first_day)
    return FieldWork(
        interventions=interventions, time_entries=time_entries, missing_time_entries=missing, field_quotes=quotes
    )


def _booked_windows(config: WorldConfig, scheduled_wall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arrival window promised at booking (UTC), always holding the office's slot.

    Half-days when the slot falls in one (08:00-12:30, 12:30-18:00), otherwise and for the other
    half of the visits a two-hour window on whole hours ("9h-11h") with the slot in its first or
    second hour. Drawn from its own stream, so the rest of the world is unchanged.
    """
    rng = component_rng(config.seed, "booked_windows")
    n = len(scheduled_wall)
    midnight = scheduled_wall.astype("datetime64[D]").astype("datetime64[s]")
    minute = ((scheduled_wall - midnight).astype("int64") // 60).astype(int)
    hour_start = (minute // 60) * 60 - 60 * rng.integers(0, 2, n)
    two_hour_start = np.maximum(hour_start, np.minimum(minute, 8 * 60))
    half_day = rng.random(n) < HALF_DAY_WINDOW_SHARE
    in_morning = (minute >= MORNING[0]) & (minute < MORNING[1])
    in_afternoon = (minute >= AFTERNOON[0]) & (minute < AFTERNOON[1])
    start = np.select(
        [half_day & in_morning, half_day & in_afternoon], [MORNING[0], AFTERNOON[0]], default=two_hour_start
    )
    end = np.select([half_day & in_morning, half_day & in_afternoon], [MORNING[1], AFTERNOON[1]], default=start + 120)
    return paris_to_utc(midnight + _minutes(start)), paris_to_utc(midnight + _minutes(end))


def _bookings(
    rng: np.random.Generator, visits: pd.DataFrame, quotes: pd.DataFrame, first_day: np.datetime64
) -> pd.DataFrame:
    """When and through which channel each visit was booked, and when cancelled ones were called off."""
    n = len(visits)
    kind = visits["kind"].to_numpy()
    scheduled = visits["scheduled_start_utc"].to_numpy()
    lead_days = np.where(kind == MAINTENANCE, rng.integers(7, 61, n), rng.choice([0, 0, 0, 0, 0, 1, 1, 1, 2, 3], n))
    booking_dates = first_day + (visits["day"].to_numpy() - lead_days).astype("timedelta64[D]")
    created = _business_instant(rng, booking_dates)
    same_day = scheduled - np.timedelta64(3600, "s")
    created = np.where(created >= same_day, same_day - rng.integers(0, 3600, n).astype("timedelta64[s]"), created)
    channel = np.empty(n, dtype=object)
    for visit_kind, shares in BOOKING_CHANNELS.items():
        mask = kind == visit_kind
        channel[mask] = rng.choice(catalog.BOOKING_CHANNELS, size=mask.sum(), p=shares)
    # Installations are booked when their quote is accepted (from the field app or the office).
    from_quote = visits["source_quote"].to_numpy() >= 0
    quote = quotes.set_index("row").loc[visits["source_quote"].to_numpy()[from_quote]]
    decision = _business_instant(rng, first_day + quote["decision_day"].to_numpy().astype("timedelta64[D]"))
    created[from_quote] = np.minimum(decision, same_day[from_quote])
    channel[from_quote] = np.where(
        quote["origin"].to_numpy() == "field", "technician", rng.choice(["phone", "email"], from_quote.sum())
    )
    cancelled = visits["cancelled"].to_numpy()
    called_off = scheduled - rng.integers(2 * 3600, 72 * 3600, n).astype("timedelta64[s]")
    called_off = np.maximum(called_off, created + np.timedelta64(600, "s"))
    return visits.assign(
        created_utc=created, booked_via=channel, cancelled_utc=np.where(cancelled, called_off, np.datetime64("NaT"))
    )


def intervention_state(interventions: pd.DataFrame, snapshot: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Status and last update of each intervention as the app shows it at `snapshot`."""
    cancelled_at = interventions["cancelled_utc"].to_numpy()
    started = interventions["actual_start_utc"].to_numpy()
    synced = interventions["synced_utc"].to_numpy()
    created = interventions["created_utc"].to_numpy()
    is_cancelled = ~np.isnat(cancelled_at) & (cancelled_at <= snapshot)
    done = ~np.isnat(synced) & (synced <= snapshot)
    running = ~done & ~np.isnat(started) & (started <= snapshot)
    # A visit counts as done once the technician's app has synced its end.
    status = np.select([is_cancelled, done, running], ["cancelled", "done", "in_progress"], default="scheduled")
    updated = np.select([is_cancelled, done, running], [cancelled_at, synced, started], default=created)
    return status, updated


def _time_entries(
    rng: np.random.Generator, config: WorldConfig, visits: pd.DataFrame, technicians: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clock-ins per technician day: admin, travel before each visit, the work, lunch, admin."""
    done = visits[~visits["cancelled"]].sort_values(["technician", "actual_start_utc", "row"], kind="stable")
    done = done.assign(work_date=utc_to_paris(done["actual_start_utc"].to_numpy()).astype("datetime64[D]"))
    end_day = np.datetime64(config.end_date, "D")
    days = done[["technician", "work_date"]].drop_duplicates().reset_index(drop=True)
    skipped = (rng.random(len(days)) < MISSING_CLOCK_IN_RATE) & (days["work_date"].to_numpy() <= end_day)
    missing = days[skipped]
    done = done.merge(missing.assign(skip=True), on=["technician", "work_date"], how="left")
    done = done[done["skip"].isna()].drop(columns="skip").reset_index(drop=True)

    start = done["actual_start_utc"].to_numpy()
    end = done["actual_end_utc"].to_numpy()
    same_round = (done["technician"].shift() == done["technician"]) & (done["work_date"].shift() == done["work_date"])
    previous_end = np.where(same_round, np.roll(end, 1), np.datetime64("NaT"))
    travel_start = start - _minutes(done["travel_minutes"].to_numpy())
    travel_start = np.where(same_round, np.maximum(travel_start, previous_end), travel_start)
    lunch_start = np.where(same_round, previous_end, np.datetime64("NaT"))
    wall_previous_end = utc_to_paris(lunch_start)
    after_noon = same_round & (
        (wall_previous_end - wall_previous_end.astype("datetime64[D]")) >= np.timedelta64(12 * 3600, "s")
    )
    rounds = [done["technician"].to_numpy(), done["work_date"].to_numpy()]
    first_after_noon = after_noon & (pd.Series(after_noon).groupby(rounds).cumsum().to_numpy() == 1)
    lunch_end = np.minimum(lunch_start + _minutes(45), travel_start)
    has_lunch = first_after_noon & (lunch_end - lunch_start >= np.timedelta64(20 * 60, "s"))
    first = ~same_round
    last = ~np.append(same_round.to_numpy()[1:], False)
    tech = done["technician"].to_numpy()
    parts = [
        ("travel", travel_start, start, done["intervention_id"].to_numpy(), np.ones(len(done), bool)),
        ("work", start, end, done["intervention_id"].to_numpy(), np.ones(len(done), bool)),
        ("break", lunch_start, lunch_end, np.full(len(done), None), has_lunch),
        ("admin", travel_start - _minutes(15), travel_start, np.full(len(done), None), first.to_numpy()),
        ("admin", end, end + _minutes(20), np.full(len(done), None), last),
    ]
    entries = pd.concat(
        [
            pd.DataFrame(
                {
                    "technician": tech[m],
                    "kind": kind,
                    "clock_in_utc": a[m],
                    "clock_out_utc": b[m],
                    "intervention_id": np.where(kind == "work", ref, None)[m],
                }
            )
            for kind, a, b, ref, m in parts
        ],
        ignore_index=True,
    )
    entries = entries.sort_values(["clock_in_utc", "technician", "clock_out_utc"], kind="stable").reset_index(drop=True)
    entries["time_entry_id"] = [f"TE-{i + 1:06d}" for i in range(len(entries))]
    entries["work_date"] = utc_to_paris(entries["clock_in_utc"].to_numpy()).astype("datetime64[D]")
    entries["technician_id"] = technicians["technician_id"].to_numpy()[entries["technician"]]
    entries["synced_utc"] = entries["clock_out_utc"] + pd.to_timedelta(rng.integers(60, 1800, len(entries)), unit="s")
    missing_days = pd.DataFrame(
        {
            "technician_id": technicians["technician_id"].to_numpy()[missing["technician"]],
            "work_date": missing["work_date"].to_numpy(),
        }
    )
    return entries, missing_days


def _field_quotes(
    rng: np.random.Generator, visits: pd.DataFrame, quotes: pd.DataFrame, first_day: np.datetime64
) -> pd.DataFrame:
    """Quotes written on site after a visit; their decision comes days later, or they expire."""
    field = quotes[quotes["origin"] == "field"].merge(
        visits[["row", "intervention_id", "technician", "actual_end_utc"]],
        left_on="intervention",
        right_on="row",
        suffixes=("", "_visit"),
    )
    n = len(field)
    created = field["actual_end_utc"].to_numpy() + rng.integers(5 * MINUTE, 40 * MINUTE, n).astype("timedelta64[s]")
    decided = _business_instant(rng, first_day + field["decision_day"].to_numpy().astype("timedelta64[D]"))
    expired = field["outcome"].to_numpy() == "expired"
    decided = np.where(
        expired, created + np.timedelta64(30, "D"), np.maximum(decided, created + np.timedelta64(3600, "s"))
    )
    field = field.assign(created_utc=created, decided_utc=decided).sort_values(["created_utc", "row"], kind="stable")
    field = field.reset_index(drop=True)
    field["field_quote_id"] = [f"FQ-{i + 1:06d}" for i in range(n)]
    # A quote stays a draft for a while before the technician sends it.
    field["sent_utc"] = field["created_utc"] + pd.to_timedelta(rng.integers(10 * MINUTE, 6 * 3600, n), unit="s")
    return field.drop(columns=["row_visit"])
