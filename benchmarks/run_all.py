#!/usr/bin/env python3
"""`make bench` (alias `make benchmarks`): every measurement in benchmarks/, one after the other.

    nice scripts/run.sh python benchmarks/run_all.py            # all (about an hour on 2 shared cores)
    nice scripts/run.sh python benchmarks/run_all.py --quick    # a few minutes: the fast ones, one round each
    make bench QUICK=1                                          # the same through make

Each script prints its table and writes benchmarks/results/<name>.json; at the end this writes
benchmarks/results/SUMMARY.md (the headline figures, from the JSON files) and copies it into
the README between the `bench-summary` markers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SUMMARY = RESULTS / "SUMMARY.md"
README = ROOT / "README.md"
START, END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"

# (script, full-run arguments, quick-run arguments or None to skip it in --quick)
BENCHMARKS = [
    ("dag_parse_time.py", [], []),
    ("dbt_parse_time.py", [], ["--runs", "1"]),
    ("transform_overhead.py", ["--prepare", "--runs", "3"], ["--prepare", "--runs", "1", "--modes", "watcher"]),
    ("loaders_vs_dlt.py", [], None),  # needs .venv-dlt: `make install-dlt` (make bench-dlt runs it alone)
    ("simulator_timings.py", [], None),
    ("crm_list_paging.py", [], ["--tickets", "35300"]),
    # mailbox_full_round.py is run by hand on a generated world (the scale-100 one: README); its
    # results file keeps one entry per scale and the summary shows them
    ("dbt_build_time.py", [], None),
    ("ml_eval/forecast.py", [], None),
    ("ml_eval/routing.py", [], None),
    ("ingest_throughput.py", [], None),
    ("quality_gate.py", ["--scale", "10"], None),
    ("bi_dashboards.py", ["--scales", "1", "10"], None),
    ("lint_time.py", [], []),
    ("celery_workers.py", [], None),
    # last: it resets the local stack per world and leaves the 2-year world (the demo's) in place;
    # skipped by --quick (about 15 min per world at scale 1)
    ("scale_stages.py", ["--years", "1", "2", "--runs", "2"], None),
]


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def summary_markdown() -> str:
    """The headline figures from the result files present, each with when and where it was measured."""
    lines = ["| measure | value | source |", "|---|---|---|"]
    for overhead in filter(None, map(_load, ["transform_overhead.json", "transform_overhead_scale10.json"])):
        m, scale = overhead["machine"], overhead.get("scale") or "1"
        where = f"{overhead['measured_at'][:10]}, {m['cores']} cores / {m['memory_gb']} GB, load {m['load_1m']} at the start, median of {overhead['runs']}"
        for name, v in overhead["summary"].items():
            if name == "plain dbt build":
                lines.append(f"| plain `dbt build` (scale {scale}) | {v['wall_s']} s | transform_overhead ({where}) |")
            else:
                lines.append(
                    f"| {name} (scale {scale}): dbt group / whole DAG | {v['dbt_group_s']} s ({v['dbt_group_vs_plain']}x plain) / "
                    f"{v['wall_s']} s ({v['dag_vs_plain']}x), {v['tasks']} tasks | transform_overhead |"
                )
    dlt = _load("loaders_vs_dlt.json")
    if dlt:
        for name, r in dlt["results"].items():
            lines.append(
                f"| {name}: ours vs dlt {r['dlt']['version']} | {r['ours']['rows_per_s']:,} vs {r['dlt']['rows_per_s']:,} rows/s "
                f"({r['throughput_ratio_ours_over_dlt']}x), {r['ours']['peak_rss_mb']:.0f} vs {r['dlt']['peak_rss_mb']:.0f} MB "
                f"| loaders_vs_dlt ({dlt['measured_at'][:10]}, median of {dlt['runs']}) |"
            )
    parse = _load("dbt_parse_time.json")
    if parse:
        for name, v in parse["median_seconds"].items():
            lines.append(f"| `{name}` | {v} s | dbt_parse_time ({parse['measured_at'][:10]}) |")
    dags = _load("dag_parse_time.json")
    if dags:
        slowest = max(dags["results"], key=lambda r: r["median_seconds"])
        cpu = f", {slowest['median_cpu_seconds']} s CPU" if "median_cpu_seconds" in slowest else ""
        load = f" at load {dags['load_average_1min']}" if dags.get("load_average_1min") is not None else ""
        lines.append(
            f"| DAG file parse, slowest (`{slowest['dag_file']}`) | {slowest['median_seconds']} s{cpu}{load} | dag_parse_time ({dags['measured_at'][:10]}) |"
        )
    lint = _load("lint_time.json")
    if lint:
        steps = ", ".join(f"{r['step'].split()[0]} {r['step'].split()[1]} {r['seconds']} s" for r in lint["results"])
        lines.append(f"| `make lint` steps | {steps} | lint_time ({lint['measured_at'][:10]}) |")
    celery = _load("celery_workers.json")
    if celery:
        split = " / ".join(f"{n} on {host}" for host, n in celery["per_worker"].items())
        lines.append(
            f"| CeleryExecutor, 2 workers: ingestion ({celery['task_instances']} tasks) | {split}, {celery['wall_s']} s "
            f"| celery_workers ({celery['measured_at'][:10]}) |"
        )
    paging = _load("crm_list_paging.json")
    if paging:
        with_ix, without = paging["results"]["with objects_by_number"], paging["results"]["without it"]
        lines.append(
            f"| CRM simulator list page, {paging['tickets']:,} tickets: with / without the paging index | "
            f"{with_ix['page_ms_median']} / {without['page_ms_median']} ms a page; a backfill's page queries "
            f"{with_ix['backfill_page_queries_s_estimated']} / {without['backfill_page_queries_s_estimated']} s (estimated) "
            f"| crm_list_paging ({paging['measured_at'][:10]}) |"
        )
    mailbox = _load("mailbox_full_round.json")
    for scale, m in sorted((mailbox or {}).get("by_scale", {}).items(), key=lambda kv: float(kv[0])):
        loads = " / ".join(f"{x['code']}: {x['wall_s']} s, {x['peak_rss_mb']:,} MB" for x in m["loads"])
        lines.append(
            f"| mailbox full delta round, scale {scale} ({m['loads'][0]['messages']:,} messages) | {loads} "
            f"| mailbox_full_round ({m['measured_at'][:10]}, {m['machine']['cores']} cores) |"
        )
    lines += scale_stages_rows(_load("scale_stages.json"))
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """An error as one table cell: its first line, without the cell separator."""
    return text.strip().splitlines()[0].replace("|", "/") if text.strip() else text


def scale_stages_rows(scale: dict | None) -> list[str]:
    """Full backfill against one daily run per world measured, daily/full per stage, the
    history-doubling ratio, the scales not measured (scale_stages.json)."""
    if not scale:
        return []
    m = scale["machine"]
    lines = []
    worlds = [w for w in scale["worlds"].values() if "daily" in w]
    for w in scale["worlds"].values():
        if "full" in w and "daily" not in w:  # the backfill measured, its daily run failed or was stopped
            when = w.get("measured_at", scale["measured_at"])[:10]
            lines.append(
                f"| scale {w['scale']:g}, {w['years']} y of history: full backfill | {w['full']['total_s']:.0f} s "
                f"({w['full']['peak_rss_mb']} MB); the daily run not measured: {_one_line(w.get('error', 'stopped'))} "
                f"| scale_stages ({when}) |"
            )
    for w in worlds:
        full, daily = w["full"], w["daily"]
        when = w.get("measured_at", scale["measured_at"])[:10]
        where = f"scale_stages ({when}, {m['cores']} cores, load {w.get('load_1m_before', m['load_1m'])} at start)"
        # ml_training runs weekly (Mondays) in production; the benchmark runs it in every phase
        ordinary = daily["total_s"] - (daily["stages"]["ML training"]["wall_s"] or 0)
        target = f"; target <= 600 s: {'met' if ordinary <= 600 else 'not met'}" if w["scale"] >= 100 else ""
        lines.append(
            f"| scale {w['scale']:g}, {w['years']} y of history: full backfill / one daily run (peak RSS, Postgres excluded) "
            f"| {full['total_s']:.0f} s ({full['peak_rss_mb']} MB) / {daily['total_s']:.0f} s ({daily['peak_rss_mb']} MB), "
            f"{ordinary:.0f} s on a day without the weekly ML training{target}: "
            f"daily/full {w['daily_vs_full']['total']:.1%} (target at 100x <= 10%) | {where} |"
        )
        per_stage = ", ".join(
            f"{name.strip()} {daily['stages'][name]['wall_s']:.0f}/{full['stages'][name]['wall_s']:.0f} s ({r:.0%})"
            for name, r in w["daily_vs_full"].items()
            if name != "total" and r is not None
        )
        lines.append(f"| scale {w['scale']:g}, {w['years']} y: daily/full per stage | {per_stage} | scale_stages |")
    for name, ratios in scale.get("history_doubling", {}).items():
        per_stage = ", ".join(
            f"{k.strip()} {v:.2f}" for k, v in ratios.items() if not k.startswith("total") and v is not None
        )
        reruns = f", {ratios['total_reruns']:.2f}x on the daily re-runs" if ratios.get("total_reruns") else ""
        load = "; the machine's load differed between the worlds (load_observed)" if scale.get("load_observed") else ""
        lines.append(
            f"| daily run, history doubled ({name}) | {ratios['total']:.2f}x first daily run{reruns} (target < 1.2){load}; "
            f"per stage {per_stage} | scale_stages |"
        )
    measured = {w["scale"] for w in worlds}
    missing = [f"{s:g}" for s in (1.0, 10.0, 100.0) if s not in measured]
    if missing:
        lines.append(
            f"| full / daily at scale {', '.join(missing)} | not measured: {scale['not_measured_why']} | scale_stages |"
        )
    return lines


def write_summary() -> None:
    table = summary_markdown()
    SUMMARY.write_text(
        f"# Benchmark summary\n\nWritten by `benchmarks/run_all.py` on {datetime.now(UTC):%Y-%m-%d}.\n\n{table}"
    )
    text = README.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        README.write_text(f"{head}{START}\n{table}{END}{rest.split(END, 1)[1]}")


def main() -> int:
    quick = "--quick" in sys.argv
    failed = []
    for script, args, quick_args in BENCHMARKS:
        if quick and quick_args is None:
            continue
        run_args = quick_args if quick else args
        print(f"\n===== {script} {' '.join(run_args)}", flush=True)
        start = time.time()
        rc = subprocess.run([sys.executable, str(HERE / script), *run_args]).returncode
        print(f"===== {script}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.time() - start:.0f}s", flush=True)
        if rc:
            failed.append(script)
    write_summary()
    print(
        f"\nsummary: {SUMMARY.relative_to(ROOT)} (also in README.md)"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
