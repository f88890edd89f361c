#!/usr/bin/env python3
"""The ingestion DAGs under CeleryExecutor with two workers on loopback: how the task instances
spread over the workers, and the wall time (world generation and start-up included, and per run).

The same run as tests/e2e/test_celery.py (tests/e2e/celery_world.py), on a 0.3-scale world.

    scripts/run.sh python benchmarks/celery_workers.py

Prints a table and writes benchmarks/results/celery_workers.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
RESULTS = ROOT / "benchmarks" / "results" / "celery_workers.json"

from machine import machine  # noqa: E402

from scripts.celery_run import print_report, spread  # noqa: E402
from tests.e2e.celery_world import celery_ingestion  # noqa: E402


def main() -> int:
    where = machine()
    with tempfile.TemporaryDirectory(prefix="bench_celery_") as tmp:
        with celery_ingestion(Path(tmp), os.environ["WAREHOUSE_URL"]) as run:
            tis = run["tis"]
    print_report(tis, run["seconds"])
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": where,
        "dags": sorted(run["states"]),
        "states": run["states"],
        "task_instances": len(tis),
        "per_worker": dict(sorted(spread(tis).items())),
        "wall_s": run["seconds"],
        "run_wall_s": run["run_seconds"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0 if all(s == "success" for s in run["states"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
