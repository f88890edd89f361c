"""The CTI outbox: one CDR file per day, their delivery schedule, and the planted defects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulators.world import World
from simulators.world.clock import format_paris_iso, format_paris_wall, paris_to_utc
from simulators.world.rng import component_rng

HEADER = (
    "call_id",
    "start_time",
    "end_time",
    "caller_number",
    "called_number",
    "direction",
    "queue",
    "wait_seconds",
    "talk_seconds",
    "outcome",
    "agent_id",
    "agent_name",
)
EXTRA_COLUMN = "recording_url"
LATE_FILE_SHARE = 0.02
REDELIVERIES = 1  # the same bytes sent again
CUT_FILES = 1  # an export cut off inside a line, sent again complete later
WINDOWS1252_FILES = 2  # exported in Windows-1252: valid data, not a defect
MALFORMED_PER_YEAR = 4
MALFORMED_KINDS = ("malformed_missing_field", "malformed_non_numeric_seconds", "malformed_impossible_date")


@dataclass
class CtiOutbox:
    rows_per_day: pd.Series  # data rows of each day's file (index: date)
    deliveries: pd.DataFrame  # file, deliver_at, kind
    defects: pd.DataFrame  # file, line, kind


def file_name(day: np.datetime64, suffix: str = "") -> str:
    return f"cdr_{str(day).replace('-', '')}{suffix}.csv"


def _corrupt(rng: np.random.Generator, row: str, kind: str) -> str:
    fields = row.split(";")
    if kind == "malformed_missing_field":
        del fields[6]  # the queue
    elif kind == "malformed_non_numeric_seconds":
        fields[7] = fields[7] + "s" if rng.random() < 0.5 else "n/a"
    else:
        date_part, time_part = fields[1].split(" ")
        fields[1] = (
            f"{date_part[:4]}-02-30 {time_part}"
            if rng.random() < 0.5
            else f"{date_part[:4]}-13-{date_part[8:]} {time_part}"
        )
    return ";".join(fields)


def cdr_rows(world: World) -> pd.DataFrame:
    """The calls the CDR files show (start date to end date), with each row's text."""
    calls = world.calls
    first, last = np.datetime64(world.config.start_date, "D"), np.datetime64(world.config.end_date, "D")
    local_date = calls["local_date"].to_numpy().astype("datetime64[D]")
    c = calls[(local_date >= first) & (local_date <= last)]
    columns = [
        c["call_id"].to_numpy(),
        format_paris_wall(c["start_utc"].to_numpy()),
        format_paris_wall(c["end_utc"].to_numpy()),
        c["caller_number"].to_numpy(),
        c["called_number"].to_numpy(),
        c["direction"].to_numpy(),
        c["queue"].to_numpy(),
        c["wait_seconds"].astype(str).to_numpy(),
        c["talk_seconds"].astype(str).to_numpy(),
        c["outcome"].to_numpy(),
        c["agent_id"].to_numpy(),
        c["agent_name"].to_numpy(),
    ]
    text = [";".join(values) for values in zip(*columns, strict=True)]
    return pd.DataFrame(
        {
            "day": local_date[(local_date >= first) & (local_date <= last)],
            "text": text,
            "call_id": c["call_id"].to_numpy(),
        }
    )


def write_cti_outbox(world: World, outbox: Path, schedule_path: Path) -> CtiOutbox:
    rng = component_rng(world.config.seed, "cti_files")
    rows = cdr_rows(world)
    days = np.arange(np.datetime64(world.config.start_date, "D"), np.datetime64(world.config.end_date, "D") + 1)
    by_day = {day: list(group) for day, group in rows.groupby("day", sort=True)["text"]}
    lines_of = {day: by_day.get(pd.Timestamp(day), []) for day in days}
    dst_days = set(np.array(world.calendar.loc[world.calendar["is_dst_autumn"], "date"], dtype="datetime64[D]"))
    eligible = np.array([d for d in days if d not in dst_days and len(lines_of[d]) > 0])

    defects: list[tuple[str, int | str, str]] = []
    accented = np.array([any(not line.isascii() for line in lines_of[d]) for d in eligible])
    windows1252 = (
        set(rng.choice(eligible[accented], size=min(WINDOWS1252_FILES, accented.sum()), replace=False))
        if len(eligible)
        else set()
    )
    remaining = np.array([d for d in eligible if d not in windows1252])
    extra_column_day = rng.choice(remaining) if len(remaining) else None
    malformed_days = rng.choice(
        remaining[remaining != extra_column_day],
        size=max(3, round(MALFORMED_PER_YEAR * world.config.years)),
        replace=False,
    )
    # A cut file's day is early enough for its complete copy to be delivered by the end (at most 5 days later).
    clean = np.array(
        [d for d in remaining if d != extra_column_day and d not in set(malformed_days) and d <= days[-1] - 6]
    )
    cut_days = set(rng.choice(clean[[len(lines_of[d]) >= 2 for d in clean]], size=CUT_FILES, replace=False))

    for i, day in enumerate(sorted(malformed_days)):
        kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
        line = int(rng.integers(0, len(lines_of[day])))
        lines_of[day][line] = _corrupt(rng, lines_of[day][line], kind)
        defects.append((file_name(day), line + 2, kind))  # line 1 is the header

    outbox.mkdir(parents=True, exist_ok=True)
    for day in days:
        header, body = list(HEADER), lines_of[day]
        if day == extra_column_day:
            header.append(EXTRA_COLUMN)
            body = [f"{line};https://cti.local/rec/{line.split(';')[0]}.wav" for line in body]
            defects.append((file_name(day), 1, "extra_column"))
        text = "\n".join([";".join(header), *body]) + "\n"
        if day in windows1252:
            data = text.encode("cp1252")
            defects.append((file_name(day), "", "windows1252_file"))
        else:
            data = text.encode("utf-8")
        if day in cut_days:
            # The export stopped inside a line (no terminator after it); the complete file follows.
            (outbox / file_name(day, "_resend")).write_bytes(data)
            cut_line = int(rng.integers(len(body) // 2, len(body)))
            kept = body[cut_line]
            cut_text = "\n".join([";".join(header), *body[:cut_line], kept[: int(rng.integers(1, len(kept)))]])
            data = cut_text.encode("utf-8")
            defects += [
                (file_name(day), cut_line + 2, "truncated_file"),
                (file_name(day, "_resend"), "", "corrected_redelivery"),
            ]
        (outbox / file_name(day)).write_bytes(data)

    deliveries = _schedule(rng, days, outbox, defects, cut_days)
    deliveries.to_csv(schedule_path, index=False, lineterminator="\n")
    defect_table = pd.DataFrame(defects, columns=["file", "line", "kind"]).sort_values(["file", "kind"], kind="stable")
    rows_per_day = pd.Series({pd.Timestamp(d): len(lines_of[d]) for d in days}, name="actual_calls")
    return CtiOutbox(rows_per_day=rows_per_day, deliveries=deliveries, defects=defect_table.reset_index(drop=True))


def _schedule(
    rng: np.random.Generator,
    days: np.ndarray,
    outbox: Path,
    defects: list[tuple[str, int | str, str]],
    cut_days: set,
) -> pd.DataFrame:
    """Each file lands the next night; a few arrive 1-3 days late; one is sent again later as it
    was, and each cut file is sent again complete (already in the outbox).

    Writes the re-delivered copies into the outbox and records late files and re-deliveries in `defects`.
    """
    night_wall = (days + 1).astype("datetime64[s]") + rng.integers(int(1.5 * 3600), int(4.5 * 3600), len(days)).astype(
        "timedelta64[s]"
    )
    late = rng.random(len(days)) < LATE_FILE_SHARE
    late[rng.choice(len(days), size=min(2, len(days)), replace=False)] = True
    late[[d in cut_days for d in days]] = False  # a cut file arrives on time; its complete copy is the late one
    delay_days = np.where(late, rng.integers(1, 4, len(days)), 0)
    deliver_at = paris_to_utc(night_wall + (delay_days * 86400).astype("timedelta64[s]"))
    names = [file_name(d) for d in days]
    table = pd.DataFrame({"file": names, "deliver_utc": deliver_at, "kind": np.where(late, "late", "on_time")})
    defects += [(name, "", "late_file") for name, is_late in zip(names, late, strict=True) if is_late]

    cut = [i for i, d in enumerate(days) if d in cut_days]
    resent = rng.choice([i for i in range(len(days)) if i not in cut], size=min(REDELIVERIES, len(days)), replace=False)
    extra = []
    for i in sorted([*resent, *cut]):
        name = file_name(days[i], "_resend")
        if i not in cut:
            (outbox / name).write_bytes((outbox / names[i]).read_bytes())
            defects.append((name, "", "redelivery"))
        extra.append((name, deliver_at[i] + np.timedelta64(int(rng.integers(1, 5)) * 86400 + 3600, "s"), "redelivery"))
    table = pd.concat([table, pd.DataFrame(extra, columns=["file", "deliver_utc", "kind"])], ignore_index=True)
    table = table.sort_values(["deliver_utc", "file"], kind="stable").reset_index(drop=True)
    return pd.DataFrame(
        {"file": table["file"], "deliver_at": format_paris_iso(table["deliver_utc"].to_numpy()), "kind": table["kind"]}
    )
