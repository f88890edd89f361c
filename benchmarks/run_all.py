#!/usr/bin/env python3
"""`make benchmarks`: every measurement in benchmarks/, one after the other.

    scripts/run.sh python benchmarks/run_all.py            # all (about 25 minutes on 2 cores)
    scripts/run.sh python benchmarks/run_all.py --quick    # skip the 10x quality-gate and dashboard runs

Each script prints its table and writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ("dag_parse_time.py", []),
    ("simulator_timings.py", []),
    ("dbt_build_time.py", []),
    ("forecast_accuracy.py", []),
    ("ingest_throughput.py", []),
    ("quality_gate.py", ["--scale", "10"]),
    ("bi_dashboards.py", ["--scales", "1", "10"]),
]


def main() -> int:
    quick = "--quick" in sys.argv
    failed = []
    for script, args in BENCHMARKS:
        if quick and script in ("quality_gate.py", "bi_dashboards.py"):
            continue
        print(f"\n===== {script} {' '.join(args)}", flush=True)
        start = time.time()
        rc = subprocess.run([sys.executable, str(HERE / script), *args]).returncode
        print(f"===== {script}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.time() - start:.0f}s", flush=True)
        if rc:
            failed.append(script)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
