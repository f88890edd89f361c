#!/usr/bin/env python3
"""How long `dbt build` takes on the tests' small world (scale 0.3, one year of history).

The world the test_dbt_* modules share (tests/integration/dbt_world.py): generated, loaded by
the production loaders into a throw-away database, then built with `dbt build --threads 4`.
The tests check that the build is green; its duration is measured here (it used to be a
"< 120 s" assertion).

    scripts/run.sh python benchmarks/dbt_build_time.py

Prints a table and writes benchmarks/results/dbt_build_time.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from tests.integration.dbt_world import build_world  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "dbt_build_time.json"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench_dbt_") as tmp:
        world = build_world(Path(tmp))
        try:
            ok = world.build_returncode == 0  # type: ignore[attr-defined]
            nodes = Counter(r["unique_id"].split(".")[0] for r in world.results)
            slowest = sorted(world.results, key=lambda r: r.get("execution_time", 0), reverse=True)[:5]
            row = {
                "build_ok": ok,
                "generate_and_load_seconds": round(world.load_seconds, 1),
                "dbt_build_seconds": round(world.build_seconds, 1),
                "nodes": dict(nodes),
                "slowest_nodes": [
                    {"node": r["unique_id"], "seconds": round(r.get("execution_time", 0), 2)} for r in slowest
                ],
            }
        finally:
            world.cleanup()  # type: ignore[attr-defined]

    print(f"\n{'measure':<34} {'value':>10}")
    print(f"{'generate + load (s)':<34} {row['generate_and_load_seconds']:>10.1f}")
    print(f"{'dbt build --threads 4 (s)':<34} {row['dbt_build_seconds']:>10.1f}")
    print(f"{'build green':<34} {str(ok):>10}")
    print(f"{'nodes':<34} {sum(nodes.values()):>10}  {dict(nodes)}")
    for s in row["slowest_nodes"]:
        print(f"  {s['node']:<60} {s['seconds']:>6.2f}s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"measured_at": datetime.now(UTC).isoformat(), **row}, indent=2))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
