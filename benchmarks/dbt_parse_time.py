#!/usr/bin/env python3
"""How long `dbt parse` takes with partial parsing (dbt re-reads only changed files, what `make`
and a developer's edit-run loop see) and without it (`--no-partial-parse`: a fresh clone, CI).

    nice scripts/run.sh python benchmarks/dbt_parse_time.py [--runs 3]

Prints a table and writes benchmarks/results/dbt_parse_time.json (medians, machine stated).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from benchmarks.machine import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "dbt_parse_time.json"
PARSE = ["dbt", "parse", "--quiet", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]


def seconds(extra: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(PARSE + extra, cwd=ROOT, check=True, capture_output=True)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds([])  # leaves a partial-parse state for the partial runs
    rows = {
        "dbt parse (partial parsing, nothing changed)": [seconds([]) for _ in range(args.runs)],
        "dbt parse --no-partial-parse": [seconds(["--no-partial-parse"]) for _ in range(args.runs)],
    }
    seconds([])  # leave the state as `make dbt-parse` would
    summary = {k: round(statistics.median(v), 2) for k, v in rows.items()}
    print(f"\n{'command':<46} {'median s':>9}")
    for k, v in summary.items():
        print(f"{k:<46} {v:>9.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": machine(),
                "runs": args.runs,
                "median_seconds": summary,
                "all_seconds": {k: [round(x, 2) for x in v] for k, v in rows.items()},
            },
            indent=2,
        )  # fmt: skip
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
