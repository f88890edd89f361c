"""Call detail records: every call with its instants, numbers, queue, waits and agent.

Known customers' calls come from the behaviour model; unknown callers (prospects, wrong
numbers) and the night emergency line's planted calls in the repeated autumn hour are added
here. Instants are UTC; the CDR shows Paris wall time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.behaviour import NIGHT_LINE_KNOWN_SHARE, OUTBOUND_SHARE_OPEN_DAY, UNKNOWN_SHARE
from simulators.world.calendar import DST_PLANTED_CALLS_PER_OCCURRENCE
from simulators.world.clock import paris_midnight_utc, paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

TALK_MEDIAN_SECONDS = np.array([210, 300, 420, 240, 150, 260])  # by motive
UNKNOWN_MOTIVE_SHARES = np.array([0.15, 0.45, 0.02, 0.03, 0.33, 0.02])
NIGHT_EVENING_START = 19 * 3600  # the night line takes over from 19:00 to 07:45
NIGHT_MORNING_END = 7 * 3600 + 45 * 60


def _night_instants(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """Uniform in real time over the night-line hours of each Paris day (00:00-07:45 and 19:00-24:00).

    Drawing in UTC means an autumn night really has one hour more and a spring night one hour
    less: the ambiguous hour gets calls, the non-existent one cannot.
    """
    wall_midnight = dates.astype("datetime64[s]")
    midnight = paris_to_utc(wall_midnight)
    morning_end = paris_to_utc(wall_midnight + np.timedelta64(NIGHT_MORNING_END, "s"))
    evening_start = paris_to_utc(wall_midnight + np.timedelta64(NIGHT_EVENING_START, "s"))
    next_midnight = paris_to_utc(wall_midnight + np.timedelta64(1, "D"))
    morning = (morning_end - midnight).astype("int64")
    evening = (next_midnight - evening_start).astype("int64")
    position = (rng.random(len(dates)) * (morning + evening)).astype("int64")
    return np.where(
        position < morning,
        midnight + position.astype("timedelta64[s]"),
        evening_start + (position - morning).astype("timedelta64[s]"),
    )


def _unknown_calls(calendar: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    day_calls = (calendar["day_calls_expected"] * calendar["dispersion"]).to_numpy()
    outbound_share = np.where(calendar["is_open"], OUTBOUND_SHARE_OPEN_DAY, 0.0)
    day_expected = day_calls * (1 - outbound_share) * UNKNOWN_SHARE
    night_expected = (calendar["night_calls_expected"] * calendar["dispersion"]).to_numpy() * (
        1 - NIGHT_LINE_KNOWN_SHARE
    )
    day_count = rng.poisson(day_expected)
    night_count = rng.poisson(night_expected)
    days = np.concatenate(
        [np.repeat(np.arange(len(calendar)), day_count), np.repeat(np.arange(len(calendar)), night_count)]
    )
    channel = np.concatenate([np.full(day_count.sum(), "day"), np.full(night_count.sum(), "night")])
    hour = rng.choice(np.arange(8, 19), size=len(days))
    motive = rng.choice(len(catalog.MOTIVES), size=len(days), p=UNKNOWN_MOTIVE_SHARES)
    # The repeated autumn hour: planted calls in both its occurrences (README: CTI).
    planted_days = np.flatnonzero(calendar["is_dst_autumn"].to_numpy())
    planted = np.repeat(planted_days, 2 * DST_PLANTED_CALLS_PER_OCCURRENCE)
    occurrence = np.tile(np.repeat([0, 1], DST_PLANTED_CALLS_PER_OCCURRENCE), len(planted_days))
    return pd.DataFrame(
        {
            "day": np.concatenate([days, planted]),
            "customer": -1,
            "channel": np.concatenate([channel, np.full(len(planted), "dst")]),
            "motive": np.concatenate(
                [
                    np.where(channel == "night", catalog.URGENCE_PANNE, motive),
                    np.full(len(planted), catalog.URGENCE_PANNE),
                ]
            ),
            # For the planted rows the column holds which occurrence of the hour (0 summer, 1 winter time).
            "second_of_day": np.concatenate(
                [np.where(channel == "day", hour * 3600 + rng.integers(0, 3600, len(days)), -1), occurrence]
            ),
            "outcome": "",
        }
    )


def build_calls(
    config: WorldConfig,
    calendar: pd.DataFrame,
    customers: pd.DataFrame,
    known_calls: pd.DataFrame,
    unknown_numbers: pd.DataFrame,
    agents: pd.DataFrame,
    technicians: pd.DataFrame,
) -> pd.DataFrame:
    """All calls of the simulated period, in chronological order, with CDR fields."""
    rng = component_rng(config.seed, "calls")
    unknown = _unknown_calls(calendar, rng)
    calls = pd.concat(
        [known_calls.drop(columns=["ticket", "day_rank"]).assign(known_rank=known_calls["day_rank"]), unknown],
        ignore_index=True,
    )
    n = len(calls)
    day = calls["day"].to_numpy()
    dates = np.datetime64(config.warmup_start, "D") + day.astype("timedelta64[D]")
    midnight = paris_midnight_utc(dates)
    channel = calls["channel"].to_numpy()
    second = calls["second_of_day"].to_numpy()

    start = paris_to_utc(dates.astype("datetime64[s]") + np.where(second >= 0, second, 0).astype("timedelta64[s]"))
    night = channel == "night"
    start[night] = _night_instants(rng, dates[night])
    dst = channel == "dst"
    # That night Paris midnight is 22:00 UTC; 02:00-03:00 wall time comes first at +2 h (summer
    # time) and again at +3 h (winter time).
    start[dst] = midnight[dst] + ((2 + second[dst]) * 3600 + rng.integers(60, 3540, dst.sum())).astype("timedelta64[s]")

    # Outcomes the behaviour model did not decide (unknown callers).
    undecided = calls["outcome"].to_numpy() == ""
    wall_second = (utc_to_paris(start) - utc_to_paris(start).astype("datetime64[D]")).astype("int64")
    staffed = calendar["is_open"].to_numpy()[day] & (wall_second >= 8 * 3600) & (wall_second < 18 * 3600)
    draw = rng.random(n)
    night_line = night | dst
    decided = np.where(
        night_line,
        np.where(draw < 0.85, "answered", "voicemail"),
        np.where(staffed, np.where(draw < 0.85, "answered", "missed"), np.where(draw < 0.6, "voicemail", "missed")),
    )
    outcome = np.where(undecided, decided, calls["outcome"].to_numpy())

    outbound = channel == "outbound"
    answered = outcome == "answered"
    motive = calls["motive"].to_numpy()
    talk_answered = rng.lognormal(np.log(TALK_MEDIAN_SECONDS[motive]), 0.5)
    wait = np.select(
        [outbound, answered, outcome == "missed"],
        [rng.integers(3, 25, n), rng.gamma(2.0, 16.0, n), rng.integers(8, 180, n)],
        default=rng.integers(15, 40, n),
    ).astype(int)
    talk = np.select([answered, outcome == "voicemail"], [talk_answered, rng.integers(8, 90, n)], default=0).astype(int)
    end = start + (wait + talk).astype("timedelta64[s]")

    # Day calls are answered by the agents; the night line by the on-call technician of the week.
    agent_pick = rng.choice(len(agents), size=n, p=agents["weight"].to_numpy())
    on_call = (day // 7) % len(technicians)
    agent_id = np.where(
        night_line, technicians["extension"].to_numpy()[on_call], agents["agent_id"].to_numpy()[agent_pick]
    )
    agent_name = np.where(
        night_line,
        (technicians["first_name"] + " " + technicians["last_name"]).to_numpy()[on_call],
        (agents["first_name"] + " " + agents["last_name"]).to_numpy()[agent_pick],
    )
    agent_id = np.where(answered, agent_id, "")
    agent_name = np.where(answered, agent_name, "")

    customer = calls["customer"].to_numpy()
    known = customer >= 0
    use_landline = (
        known & customers["landline"].notna().to_numpy()[np.where(known, customer, 0)] & (rng.random(n) < 0.3)
    )
    own_number = np.where(
        use_landline,
        "+33" + customers["landline"].fillna("").to_numpy()[np.where(known, customer, 0)],
        "+33" + customers["mobile"].to_numpy()[np.where(known, customer, 0)],
    )
    weights = unknown_numbers["weight"].to_numpy()
    stranger = unknown_numbers["phone_e164"].to_numpy()[
        rng.choice(len(unknown_numbers), size=n, p=weights / weights.sum())
    ]
    party = np.where(known, own_number, stranger)
    company_line = np.where(night_line, catalog.NIGHT_LINE, catalog.COMPANY_LINE)

    table = pd.DataFrame(
        {
            "day": day,
            "customer": customer,
            "known_rank": calls["known_rank"].fillna(-1).astype(int).to_numpy(),
            "channel": channel,
            "start_utc": start,
            "end_utc": end,
            "caller_number": np.where(outbound, company_line, party),
            "called_number": np.where(outbound, party, company_line),
            "direction": np.where(outbound, "outbound", "inbound"),
            "motive": motive,
            "queue": np.array([catalog.MOTIVE_QUEUE[m] for m in catalog.MOTIVES])[motive],
            "wait_seconds": wait,
            "talk_seconds": talk,
            "outcome": outcome,
            "agent_id": agent_id,
            "agent_name": agent_name,
        }
    )
    table = table.sort_values(["start_utc", "day", "customer", "known_rank"], kind="stable").reset_index(drop=True)
    local_day = utc_to_paris(table["start_utc"].to_numpy()).astype("datetime64[D]")
    sequence = table.groupby(local_day).cumcount().to_numpy() + 1
    table.insert(
        0,
        "call_id",
        np.char.add(np.char.replace(np.datetime_as_string(local_day), "-", ""), np.char.zfill(sequence.astype(str), 5)),
    )
    table["local_date"] = local_day
    return table
