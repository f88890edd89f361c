#!/usr/bin/env python3
"""What write-audit-publish costs: `publish_marts` on a warehouse the pipeline built.

Copies every built mart (`marts_build`) over `marts` in one transaction, as the transform DAG
does after its gate passed, three times; reports the median and the rows and relations copied,
per mart. Run it after `make demo` (at the scale the demo ran: SIM_SCALE), on WAREHOUSE_URL:

    scripts/run.sh python benchmarks/publish.py

Prints a table and writes benchmarks/results/publish_scale<SIM_SCALE>.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from cs_analytics.transform.publish import built_marts, publish_marts  # noqa: E402
from cs_analytics.warehouse import Warehouse  # noqa: E402

RUNS = 3


def main() -> int:
    wh = Warehouse(os.environ["WAREHOUSE_URL"])
    relations = built_marts()
    schema = relations[0].built.split(".")[0]
    if not wh.query("select 1 from information_schema.schemata where schema_name = %s", (schema,)):
        print(f"no `{schema}` schema on {wh.dsn.split('@')[-1]}: run `make demo` first")
        return 1
    sizes = dict(
        wh.query(
            "select c.relname, pg_total_relation_size(c.oid) from pg_class c join pg_namespace n "
            "on n.oid = c.relnamespace where n.nspname = %s and c.relkind = 'r'",
            (schema,),
        )
    )
    runs = [publish_marts(wh) for _ in range(RUNS)]
    seconds = statistics.median(r.seconds for r in runs)
    scale = os.environ.get("SIM_SCALE", "1")
    print(f"\npublish (write-audit-publish) at scale {scale}: {len(runs[0].relations)} relations, "
          f"{runs[0].rows:,} rows, {sum(sizes.values()) / 1e6:.1f} MB, median {seconds:.2f} s of {RUNS}")  # fmt: skip
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    for name, size in biggest:
        print(f"  {name:<32} {size / 1e6:8.1f} MB")
    out = ROOT / "benchmarks" / "results" / f"publish_scale{scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "scale": float(scale),
                "relations": len(runs[0].relations),
                "rows": runs[0].rows,
                "bytes": sum(sizes.values()),
                "seconds_median": round(seconds, 3),
                "seconds": [round(r.seconds, 3) for r in runs],
            },
            indent=2,
        )
    )
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
