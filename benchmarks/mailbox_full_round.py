#!/usr/bin/env python3
"""Peak memory and wall time of the mailbox loader reading the whole inbox (one full delta round).

Reads the checkout's running Graph simulator (the world `make demo` or scale_stages.py generated) through the
production client and Airflow connection, into a throw-away database of the local cluster, in a
child process whose peak RSS (ru_maxrss) is the loader's alone. `--compare-ref REF` runs the same
load with the `plugins/` of a git revision too, in the same run (e.g. the loader before it
streamed each round to the warehouse: `--compare-ref e6c559d~1`). The simulator's own rate limit
(10,000 requests per 10 minutes, as Graph's per mailbox) applies to every run alike.

    scripts/run.sh python benchmarks/mailbox_full_round.py [--compare-ref REV] [--runs 1]

Prints a table and writes benchmarks/results/mailbox_full_round.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from benchmarks.ingest_throughput import scratch_db  # noqa: E402
from benchmarks.machine import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "mailbox_full_round.json"

# Runs in the child: the loader of `plugins` against the warehouse `url`; prints its figures as JSON.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.ingestion.mailbox import OBJECT, SOURCE, GraphMailClient, load_messages
from cs_analytics.warehouse import Warehouse

settings = IngestSettings.from_env()
start = time.perf_counter()
result = load_messages(Warehouse(sys.argv[2]), GraphMailClient.from_connection(settings=settings),
                       BatchContext(SOURCE, OBJECT, "bench_mailbox", sys.argv[3]), settings)
print(json.dumps({"wall_s": round(time.perf_counter() - start, 1), "rows": result.rows_inserted,
                  "pages": result.detail.get("pages"),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def plugins_of(ref: str, into: Path) -> Path:
    """The `plugins/` tree of git revision `ref`, extracted under `into`."""
    archive = subprocess.run(["git", "archive", ref, "plugins"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "plugins"


def one_load(plugins: Path, server_url: str, label: str) -> dict:
    with scratch_db(server_url, "bench_mailbox") as url:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(plugins), url, f"{label}-{datetime.now(UTC):%H%M%S}"],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
    if out.returncode != 0 and "ErrorInvalidUser" in out.stderr:
        raise SystemExit("the Graph simulator has no mailbox: generate a world first (make demo, or scale_stages.py)")
    if out.returncode != 0:
        raise SystemExit(f"the load with {plugins} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare-ref", help="also load with the plugins/ of this git revision")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    server_url = os.environ["WAREHOUSE_URL"]
    variants = {"this checkout": ROOT / "plugins"}
    with tempfile.TemporaryDirectory(prefix="bench_mailbox_") as tmp:
        if args.compare_ref:
            variants[args.compare_ref] = plugins_of(args.compare_ref, Path(tmp))
        figures: dict[str, list[dict]] = {name: [] for name in variants}
        for run in range(args.runs):
            for name, plugins in variants.items():
                print(f"--- run {run + 1}: {name}", flush=True)
                figures[name].append(one_load(plugins, server_url, f"run{run}"))
                print(f"    {figures[name][-1]}", flush=True)
    rows = []
    for name, runs in figures.items():
        rows.append({
            "code": name,
            "messages": runs[0]["rows"],
            "pages": runs[0]["pages"],
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "runs": runs,
        })  # fmt: skip
    print(f"\n{'loader code':<20} {'messages':>10} {'pages':>7} {'wall s':>8} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['code']:<20} {r['messages']:>10,} {r['pages']:>7,} {r['wall_s']:>8.1f} {r['peak_rss_mb']:>12,}")
    # one entry per world scale: a quick run at scale 1 keeps the scale-100 figures
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    by_scale = previous.get("by_scale", {})
    by_scale[os.environ.get("SIM_SCALE", "1")] = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "method": "one full delta round of the simulated mailbox through the production client, into a "
        "throw-away database; peak RSS of the loading process only (the simulator and PostgreSQL excluded); "
        f"median of {args.runs} run(s); the runs follow each other against the simulator's rolling limit "
        "(10,000 requests per 10 minutes), so a later run can wait where an earlier one did not",
        "loads": rows,
    }
    RESULTS.write_text(json.dumps({"by_scale": by_scale}, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
