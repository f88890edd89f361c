#!/usr/bin/env python3
"""Our loaders against dlt 1.31 (what a user would pick instead), side by side in one run.

The same rows into the same PostgreSQL server (a throw-away database per load), each load in its
own fresh process so its peak memory (max RSS) is its own:
- CDR files: `--cdr-rows` synthetic calls in `--cdr-files` daily files, in the vendor's format
  (benchmarks/ingest_throughput.write_cdr_files). Ours: cs_analytics.ingestion.cti (parse,
  quarantine, COPY, a file replaces its day). dlt: pyarrow CSV reader, incremental cursor on the
  file name, merge on call_id, CSV (COPY) loader files (benchmarks/dlt_loaders.py).
- CRM objects: the full history of `--crm-objects` from a CRM simulator started here on the
  generated world (SIM_DATA_DIR/crm.sqlite) WITHOUT rate limits, so the loaders are measured
  apart from the API's waits. Ours: HubSpotClient + load_object (upsert on id, watermark).
  dlt: the same endpoint and page size, incremental on updatedAt, merge on id.
Medians of `--runs`; ratios = dlt seconds / our seconds (> 1: ours is faster).
Targets (issue 16): >= 1.5x dlt on the CDR files; no slower than dlt on the API source.

    make install-dlt   # .venv-dlt, dlt's own virtualenv
    nice scripts/run.sh python benchmarks/loaders_vs_dlt.py [--runs 3] [--cdr-rows 300000]

Prints a table and writes benchmarks/results/loaders_vs_dlt.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from benchmarks.ingest_throughput import scratch_db, write_cdr_files  # noqa: E402
from benchmarks.machine import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "loaders_vs_dlt.json"
DLT_PYTHON = ROOT / ".venv-dlt" / "bin" / "python"
CRM_TOKEN = "bench-dlt"

OURS = r"""
import json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.warehouse import Warehouse
kind, *args = sys.argv[1:]
url = args[-1]
wh = Warehouse(url)
start = time.perf_counter()
if kind == "cdr":
    from cs_analytics.ingestion import cti
    ctx = BatchContext("cti", "calls", "bench", "ours")
    res = cti.load_landing_folder(wh, Path(args[0]), ctx, IngestSettings(quarantine_max_rate=1.0))
    table = "raw_cti.calls"
else:
    from cs_analytics.ingestion.crm import RAW_TABLES, HubSpotClient, load_object
    from cs_analytics.ingestion.http_client import ApiSession
    client = HubSpotClient(ApiSession("crm_api", args[0], args[1]))
    res = load_object(wh, client, args[2], BatchContext("crm", args[2], "bench", "ours"), IngestSettings())
    table = RAW_TABLES[args[2]]
seconds = time.perf_counter() - start
rows = wh.query(f"select count(*) from {table}")[0][0]
print(json.dumps({"rows": rows, "seconds": seconds,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def run_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(server_url: str, runs: int, ours_args: list[str], dlt_args: list[str], label: str) -> dict:
    ours, theirs = [], []
    for i in range(runs):
        with scratch_db(server_url, "bench_ours") as url:
            ours.append(run_json([sys.executable, "-c", OURS, *ours_args, url]))
        with scratch_db(server_url, "bench_dlt") as url:
            theirs.append(run_json([str(DLT_PYTHON), str(ROOT / "benchmarks" / "dlt_loaders.py"), *dlt_args, url]))
        print(f"[{label}] run {i + 1}: ours {ours[-1]['seconds']:.1f}s, dlt {theirs[-1]['seconds']:.1f}s", flush=True)

    def med(rs: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in rs), 2)

    rows_ours, rows_dlt = ours[-1]["rows"], theirs[-1]["rows"]
    return {
        "ours": {"rows": rows_ours, "seconds": med(ours, "seconds"), "peak_rss_mb": med(ours, "peak_rss_mb"),
                 "rows_per_s": round(rows_ours / med(ours, "seconds"))},
        "dlt": {"rows": rows_dlt, "seconds": med(theirs, "seconds"), "peak_rss_mb": med(theirs, "peak_rss_mb"),
                "rows_per_s": round(rows_dlt / med(theirs, "seconds")), "version": theirs[-1].get("dlt")},
        "throughput_ratio_ours_over_dlt": round(
            statistics.median(t["seconds"] / o["seconds"] for o, t in zip(ours, theirs, strict=True)), 2
        ),
        "same_rows": rows_ours == rows_dlt,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cdr-rows", type=int, default=300_000)
    parser.add_argument("--cdr-files", type=int, default=100)
    parser.add_argument("--crm-objects", default="contacts,tickets")
    args = parser.parse_args()
    if not DLT_PYTHON.exists():
        print("dlt's virtualenv is missing: run `make install-dlt` first")
        return 2
    server_url = os.environ["WAREHOUSE_URL"]
    host = machine()
    print(f"machine: {host['cores']} cores, {host['memory_gb']} GB, load {host['load_1m']} (shared)", flush=True)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_dlt_") as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        write_cdr_files(landing, args.cdr_rows, args.cdr_files)
        results["cdr files"] = compare(server_url, args.runs, ["cdr", str(landing)], ["cdr", str(landing)], "cdr")

    from simulators import crm_api
    from simulators.httpbase import serve_in_thread

    store = Path(os.environ["SIM_DATA_DIR"]) / "crm.sqlite"
    server = crm_api.make_server(store_path=store, token=CRM_TOKEN, rate_limit_per_10s=0, search_per_second=0)
    # the simulator writes a line per request to stderr: thousands here
    with serve_in_thread(server) as crm_url, open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        for obj in [o for o in args.crm_objects.split(",") if o]:
            a = [crm_url, CRM_TOKEN, obj]
            results[f"crm {obj}"] = compare(server_url, args.runs, ["crm", *a], ["crm", *a], f"crm {obj}")

    print(
        f"\n{'source':<16} {'rows':>9} {'ours rows/s':>12} {'dlt rows/s':>11} {'ours/dlt':>9} {'ours MB':>8} {'dlt MB':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:<16} {r['ours']['rows']:>9,} {r['ours']['rows_per_s']:>12,} {r['dlt']['rows_per_s']:>11,} "
            f"{r['throughput_ratio_ours_over_dlt']:>8.2f}x {r['ours']['peak_rss_mb']:>8.0f} {r['dlt']['peak_rss_mb']:>7.0f}"
            + ("" if r["same_rows"] else f"  (dlt rows {r['dlt']['rows']:,})")
        )
    print(f"median of {args.runs}; ours/dlt = dlt's time / ours; targets: CDR >= 1.5x, CRM >= 1.0x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": host,
                "runs": args.runs,
                "cdr_rows": args.cdr_rows,
                "cdr_files": args.cdr_files,
                "results": results,
            },
            indent=2,
        )  # fmt: skip
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
