"""CTI telephony: drop the daily CDR files that are due into the landing folder.

    python -m simulators.cti deliver [--until ISO-DATETIME]

The generator writes every file to `SIM_DATA_DIR/cti_outbox/` with a schedule
(`SIM_DATA_DIR/cti_deliveries.csv`: file, deliver_at, kind). Delivering copies each file due
by `until` that is not in the landing folder yet, atomically (temporary name, then rename),
so a reader never sees half a file; late files and re-deliveries arrive when their time comes.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulators import stores

PARIS = ZoneInfo("Europe/Paris")
SCHEDULE_NAME = "cti_deliveries.csv"
OUTBOX_NAME = "cti_outbox"


def default_landing_dir() -> Path:
    return Path(os.environ.get("CTI_LANDING_DIR", Path(__file__).resolve().parents[1] / ".local" / "landing" / "cti"))


def deliver(until: datetime, outbox: Path, landing: Path) -> list[str]:
    """Copy the files due by `until` (naive means Paris time) into `landing`; returns the names delivered."""
    if until.tzinfo is None:
        until = until.replace(tzinfo=PARIS)
    with open(outbox.parent / SCHEDULE_NAME, newline="") as handle:
        due = {
            row["file"]: at
            for row in csv.DictReader(handle)
            if (at := datetime.fromisoformat(row["deliver_at"])) <= until
        }
    landing.mkdir(parents=True, exist_ok=True)
    delivered = []
    for name, at in due.items():
        target = landing / name
        if target.exists():
            continue
        partial = landing / f".{name}.partial"
        shutil.copyfile(outbox / name, partial)
        os.utime(partial, (at.timestamp(), at.timestamp()))
        os.replace(partial, target)
        delivered.append(name)
    return delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.cti", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deliver_cmd = commands.add_parser("deliver", help="copy the CDR files due by --until into CTI_LANDING_DIR")
    deliver_cmd.add_argument(
        "--until", type=datetime.fromisoformat, default=None, help="ISO date-time (naive = Paris); default now"
    )
    args = parser.parse_args(argv)
    until = args.until or datetime.now(PARIS)
    delivered = deliver(until, stores.sim_data_dir() / OUTBOX_NAME, default_landing_dir())
    print(f"[cti] delivered {len(delivered)} file(s) due by {until.isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
