#!/usr/bin/env python3
"""How long each DAG file takes to parse, on top of importing Airflow itself.

Each file is imported in a fresh interpreter that has already imported airflow.sdk and cosmos
(what every DAG file shares); the median of five runs is reported.

    scripts/run.sh python benchmarks/dag_parse_time.py

Prints a table and writes benchmarks/results/dag_parse_time.json.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dag_parse_time.json"
RUNS = 5
PROBE = (
    "import time, runpy, airflow.sdk, cosmos, pendulum; t = time.perf_counter(); "
    "runpy.run_path({path!r}); print('SECONDS=%f' % (time.perf_counter() - t))"
)


def parse_seconds(path: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(path=str(path))], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(next(line for line in out.stdout.splitlines() if line.startswith("SECONDS=")).split("=")[1])


def main() -> int:
    rows = []
    for path in sorted((ROOT / "dags").glob("*.py")):
        times = [parse_seconds(path) for _ in range(RUNS)]
        rows.append(
            {
                "dag_file": path.name,
                "median_seconds": round(statistics.median(times), 3),
                "max_seconds": round(max(times), 3),
            }
        )
    print(f"\n{'DAG file':<26} {'median s':>9} {'max s':>7}   (after `import airflow.sdk, cosmos`)")
    for r in rows:
        print(f"{r['dag_file']:<26} {r['median_seconds']:>9.3f} {r['max_seconds']:>7.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"measured_at": datetime.now(UTC).isoformat(), "runs": RUNS, "results": rows}, indent=2)
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
