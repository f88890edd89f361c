"""The office staff's time clock: each customer-service agent clocks blocks of phone, e-mail,
admin and meeting time (and the lunch break) in the same time-clock app as the technicians.

Phone time is the agent's real call load (talk time plus wrap-up, from the CDRs) topped up with the
time spent waiting in the queue; e-mail time follows the tickets the agent answered in writing;
admin is the rest of the office work (planning, quotes, reporting). Claire, the service manager,
carries most of the admin, with peaks at month ends (the manual monthly reporting the platform
replaces), which keeps her admin share around the specification's 40 % target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulators.world.clock import paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

MINUTE = 60
ABSENCE_RATE = 0.06
ADMIN_MINUTES = {"lead": 205.0, "agent": 70.0}  # a usual day's admin, before the month-end peak
MONTH_END_ADMIN = 1.35  # the last three business days of a month: reporting
WRAP_UP_SECONDS = 60
EMAIL_MINUTES_PER_REPLY = 9.0
KINDS = ("phone", "email", "admin", "meeting")


def staff_ids(count: int) -> list[str]:
    return [f"OFF-{i + 1:02d}" for i in range(count)]


def build_office_time(
    config: WorldConfig, calendar: pd.DataFrame, agents: pd.DataFrame, calls: pd.DataFrame, tickets: pd.DataFrame
) -> pd.DataFrame:
    """One row per clocked block: agent, kind (phone, email, admin, meeting, break), clock_in_utc,
    clock_out_utc, work_date (Paris), synced_utc. Business days of the exported history."""
    rng = component_rng(config.seed, "office_time")
    days = calendar[(calendar["date"] >= config.start_date) & (calendar["date"] <= config.end_date)]
    open_days = days[days["is_open"]]
    dates = np.array(open_days["date"], dtype="datetime64[D]")
    month_end = _last_business_days(open_days, 3)

    answered = calls[calls["channel"].isin(["day", "outbound"]) & (calls["outcome"] == "answered")]
    call_date = utc_to_paris(answered["start_utc"].to_numpy()).astype("datetime64[D]")
    phone_seconds = (
        pd.DataFrame({"agent_id": answered["agent_id"].to_numpy(), "date": call_date,
                      "seconds": answered["talk_seconds"].to_numpy() + WRAP_UP_SECONDS})
        .groupby(["agent_id", "date"])["seconds"].sum()
    )  # fmt: skip
    written = tickets[tickets["source_type"].isin(["EMAIL", "FORM"])]
    reply_date = utc_to_paris(written["first_reply_utc"].to_numpy()).astype("datetime64[D]")
    replies = (
        pd.Series(1, index=pd.MultiIndex.from_arrays([written["agent"].to_numpy(), reply_date]))
        .groupby(level=[0, 1])
        .sum()
    )

    rows: list[tuple] = []
    for agent in range(len(agents)):
        role = "lead" if agent == 0 else "agent"
        extension = agents["agent_id"].iat[agent]
        present = rng.random(len(dates)) >= ABSENCE_RATE
        start_minute = np.where(role == "lead", rng.integers(470, 505, len(dates)), rng.integers(490, 540, len(dates)))
        lunch_start = rng.integers(720, 780, len(dates))
        lunch_minutes = rng.integers(40, 65, len(dates))
        day_minutes = rng.integers(480, 525, len(dates))  # worked, lunch excluded
        admin_noise = rng.gamma(9.0, 1 / 9.0, len(dates))
        for i in np.flatnonzero(present):
            date = dates[i]
            admin = ADMIN_MINUTES[role] * admin_noise[i] * (MONTH_END_ADMIN if month_end[i] else 1.0)
            meeting = 45.0 if pd.Timestamp(date).dayofweek == 0 else 0.0
            if role == "lead" and rng.random() < 0.3:
                meeting += float(rng.choice([30, 45, 60]))
            email = EMAIL_MINUTES_PER_REPLY * float(replies.get((agent, date), 0))
            talk = phone_seconds.get((extension, date), 0) / MINUTE
            # Waiting in the queue counts as phone time; a heavy day runs over instead of squeezing the work.
            phone = max(talk, day_minutes[i] - admin - meeting - email)
            blocks = _blocks(rng, {"phone": phone, "email": email, "admin": admin, "meeting": meeting})
            rows.extend(_lay_out(date, agent, blocks, start_minute[i], lunch_start[i], lunch_minutes[i]))
    entries = pd.DataFrame(rows, columns=["agent", "kind", "clock_in_wall", "clock_out_wall", "work_date"])
    entries["clock_in_utc"] = paris_to_utc(entries["clock_in_wall"].to_numpy())
    entries["clock_out_utc"] = paris_to_utc(entries["clock_out_wall"].to_numpy())
    entries["synced_utc"] = entries["clock_out_utc"] + pd.to_timedelta(rng.integers(30, 1200, len(entries)), unit="s")
    entries["staff_id"] = np.array(staff_ids(len(agents)))[entries["agent"].to_numpy()]
    entries["staff_email"] = agents["email"].to_numpy()[entries["agent"].to_numpy()]
    return entries.drop(columns=["clock_in_wall", "clock_out_wall"])


def _last_business_days(open_days: pd.DataFrame, count: int) -> np.ndarray:
    month = pd.to_datetime(open_days["date"]).dt.to_period("M").to_numpy()
    rank_from_end = pd.Series(1, index=open_days.index).groupby(month).cumsum().groupby(month).transform("max")
    position = pd.Series(1, index=open_days.index).groupby(month).cumsum()
    return (rank_from_end - position < count).to_numpy()


def _blocks(rng: np.random.Generator, minutes: dict[str, float]) -> list[tuple[str, int]]:
    """Each activity cut into blocks of 20-75 minutes, meetings first, the rest shuffled."""
    blocks: list[tuple[str, int]] = []
    for kind in KINDS:
        left = round(minutes[kind])
        while left >= 10:
            size = min(left, int(rng.integers(20, 76)))
            blocks.append((kind, size))
            left -= size
    meetings = [b for b in blocks if b[0] == "meeting"]
    others = [b for b in blocks if b[0] != "meeting"]
    order = rng.permutation(len(others))
    return meetings + [others[j] for j in order]


def _lay_out(
    date: np.datetime64, agent: int, blocks: list[tuple[str, int]], start: int, lunch_at: int, lunch_minutes: int
) -> list[tuple]:
    """Blocks back to back from the start of the day, with the lunch break at the first block end past lunch time."""
    midnight = date.astype("datetime64[s]")
    clock = int(start)
    rows = []
    lunch_taken = False
    for kind, size in blocks:
        if not lunch_taken and clock >= lunch_at:
            rows.append(_row(agent, "break", midnight, clock, clock + lunch_minutes, date))
            clock += lunch_minutes
            lunch_taken = True
        rows.append(_row(agent, kind, midnight, clock, clock + size, date))
        clock += size
    return rows


def _row(agent: int, kind: str, midnight: np.datetime64, begin: int, end: int, date: np.datetime64) -> tuple:
    return (
        agent,
        kind,
        midnight + np.timedelta64(begin * MINUTE, "s"),
        midnight + np.timedelta64(end * MINUTE, "s"),
        date,
    )


def number_time_entries(
    technician_entries: pd.DataFrame, office_entries: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One id sequence for the whole time clock, in clock-in order (as the app's database hands them out)."""
    keys = pd.concat(
        [
            pd.DataFrame({"side": 0, "row": np.arange(len(technician_entries)), "at": technician_entries["clock_in_utc"].to_numpy(),
                          "who": technician_entries["technician_id"].to_numpy(), "out": technician_entries["clock_out_utc"].to_numpy()}),
            pd.DataFrame({"side": 1, "row": np.arange(len(office_entries)), "at": office_entries["clock_in_utc"].to_numpy(),
                          "who": office_entries["staff_id"].to_numpy(), "out": office_entries["clock_out_utc"].to_numpy()}),
        ],
        ignore_index=True,
    ).sort_values(["at", "who", "out", "side", "row"], kind="stable")  # fmt: skip
    keys["time_entry_id"] = [f"TE-{i + 1:06d}" for i in range(len(keys))]
    ids = keys.set_index(["side", "row"])["time_entry_id"]
    return (
        technician_entries.assign(time_entry_id=ids.loc[0].reindex(np.arange(len(technician_entries))).to_numpy()),
        office_entries.assign(time_entry_id=ids.loc[1].reindex(np.arange(len(office_entries))).to_numpy()),
    )
