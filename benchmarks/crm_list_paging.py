#!/usr/bin/env python3
"""What one page of the CRM simulator's list endpoint costs, with and without its paging index.

The CRM backfill pages `GET /crm/v3/objects/{type}?after=<id>` 100 records at a time. A py-spy
profile of the scale-10 backfill (2026-12-03) put 85% of its time in that page query: without an
index on the numeric id, every page scanned and sorted all records of the type, so a backfill cost
grew with the square of the records. `stores.objects_by_number` serves a page as an index range.

This builds a throw-away store of --tickets tickets (scale 10 has about 353,000), then times the
page query (`crm_api.LIST_PAGE_SQL`, limit 101) at --samples cursors spread over the ids, with the
index and with it dropped (same store, same cursors). The backfill's total is pages x the mean
page time: an estimate from the sampled pages, not a timed backfill.

    scripts/run.sh python benchmarks/crm_list_paging.py [--tickets 353000] [--samples 20]

Prints a table and writes benchmarks/results/crm_list_paging.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from benchmarks.machine import machine  # noqa: E402
from simulators import crm_api, stores  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "crm_list_paging.json"
PAGE = 100


def build_store(path: Path, tickets: int) -> sqlite3.Connection:
    conn = stores.connect_crm(path)
    props = json.dumps({"subject": "Panne chaudière", "hs_pipeline_stage": "1", "content": "x" * 200})
    stamp = stores.iso_utc(datetime(2026, 1, 1, tzinfo=UTC))
    conn.execute("begin")
    conn.executemany(
        "insert into objects (object_type, id, properties, created_at, updated_at, archived) values (?, ?, ?, ?, ?, 0)",
        ((kind, str(1000 + i), props, stamp, stamp) for kind in ("tickets", "contacts") for i in range(tickets)),
    )
    conn.execute("commit")
    return conn


def page_ms(conn: sqlite3.Connection, cursors: list[int]) -> list[float]:
    out = []
    for after in cursors:
        start = time.perf_counter()
        conn.execute(crm_api.LIST_PAGE_SQL, ("tickets", 0, after, PAGE + 1)).fetchall()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=353_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    pages = -(-args.tickets // PAGE)
    cursors = [1000 + i * args.tickets // args.samples for i in range(args.samples)]
    with tempfile.TemporaryDirectory(prefix="crm_paging_") as tmp:
        conn = build_store(Path(tmp) / "crm.sqlite", args.tickets)
        rows = {}
        for label in ("with objects_by_number", "without it"):
            if label == "without it":
                conn.execute("drop index objects_by_number")
            plan = " | ".join(r["detail"] for r in conn.execute("explain query plan " + crm_api.LIST_PAGE_SQL, ("tickets", 0, 0, 101)))  # fmt: skip
            times = page_ms(conn, cursors)
            mean = statistics.fmean(times)
            rows[label] = {
                "page_ms_median": round(statistics.median(times), 3),
                "page_ms_max": round(max(times), 3),
                "backfill_page_queries_s_estimated": round(pages * mean / 1000, 1),
                "plan": plan,
            }
        conn.close()
    results = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "tickets": args.tickets,
        "other_records_of_another_type": args.tickets,
        "pages": pages,
        "sampled_pages": args.samples,
        "results": rows,
        "speedup_median": round(
            rows["without it"]["page_ms_median"] / rows["with objects_by_number"]["page_ms_median"], 1
        ),  # fmt: skip
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(
        f"\nCRM list page query, {args.tickets:,} tickets ({pages:,} pages of {PAGE}), {args.samples} sampled cursors"
    )
    print(f"{'index':<24} {'median ms':>10} {'max ms':>9} {'backfill s (est.)':>18}")
    for label, r in rows.items():
        print(
            f"{label:<24} {r['page_ms_median']:>10} {r['page_ms_max']:>9} {r['backfill_page_queries_s_estimated']:>18}"
        )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
