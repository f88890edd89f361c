#!/usr/bin/env python3
"""The full backfill against one daily run afterwards, per stage, with wall time and peak memory.

For each world (--scale, and each of --years, same seed and same --end-date E):
  1. reset: this checkout's local stack is emptied (warehouse, Airflow metadata, MLflow and the
     simulated ERP databases dropped and re-created, simulated stores and MLflow artifacts
     removed), the world generated with SIM_YEARS=years, SIM_END_DATE=E, the simulators
     restarted on it, the Airflow metadata migrated, the flow roles set up, dbt parsed;
  2. FULL: every pipeline DAG (scripts/demo.py's PIPELINE) with `airflow dags test` for the
     interval ending E 00:00 Paris (history through E-1: the first runs load all of it), then the
     latest run of each report (demo.latest_report_runs);
  3. DAILY: the same DAGs for the interval ending E+1 00:00 (day E only, incremental), and the
     reports due that morning; --runs N re-runs that daily interval (idempotent) N-1 more times:
     the headline is the first daily run (the real incremental one), the re-runs show the spread.
Stages: extract+load (the seven ingest_* DAGs), transform (dbt task group and quality gate tasks
split out from the DAG's log), ML training, ML scoring, alerts, reports. Peak memory: the summed
RSS of the whole `airflow dags test` process tree (dbt included), sampled every 0.2 s; the
PostgreSQL server's memory is not included. Raw-table row counts after each phase, and the
loads' windows (meta.load_batches), show what each phase loaded.

THIS RESETS THE CHECKOUT'S LOCAL STACK (make up's databases and .local stores) and leaves the last
world measured in place; the default last world (scale 1, 2 years, end date yesterday) is the one
`make demo` builds. It refuses a warehouse that is not the local cluster.

    nice scripts/run.sh python benchmarks/scale_stages.py [--scale 1] [--years 1 2] [--runs 2] [--end-date YYYY-MM-DD]

Prints a table and writes benchmarks/results/scale_stages.json; worlds measured earlier at other
(scale, years) are kept, so --scale 10 can be added by a later run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from benchmarks.machine import machine  # noqa: E402
from scripts import demo  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scale_stages.json"
LOGS = ROOT / "build" / "benchmarks" / "scale_stages"
ISSUE_SCALES = (1.0, 10.0, 100.0)
# why the scales absent from the results were not run (shown in the summary table)
NOT_MEASURED_WHY = (
    "not run on this 2-core machine: a scale-100 world (about 30,000 customers, 3.5 million tickets) and its "
    "backfill would hold it for hours; HubSpot's limit alone (190 requests per 10 s, 100 records a page: about "
    "64,600 pages, ten times scale 10's 6,460) keeps the CRM backfill waiting at least 57 min"
)
INGEST = demo.PIPELINE[: demo.PIPELINE.index("transform")]
# top-level stages, in pipeline order; the transform's parts are rows of their own under it
STAGES = ("extract+load", "transform", "ML training", "ML scoring", "alerts", "reports")
TRANSFORM_PARTS = ("dbt", "quality gate")
GATE_TASKS = ("quality_gate_sources", "quality_gate_marts")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))")
_DBT_NODE = re.compile(
    r"\d+ of \d+ (?:OK created|OK snapshotted|PASS|WARN|ERROR|FAIL)\b.*? (\S+) \.+ \[.*? in (\d+(?:\.\d+)?)s\]"
)
_TASK = re.compile(r"\[DAG TEST\] (starting|end) (?:task )?task_id=(\S+)")


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- pure helpers (tests/unit)
def task_spans(lines: Iterable[str]) -> dict[str, tuple[float, float]]:
    """task_id -> (first start, last end), epoch seconds, from an `airflow dags test` log's
    `[DAG TEST] starting task_id=...` / `[DAG TEST] end task task_id=...` lines (a mapped task's
    instances make one span)."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in lines:
        task, stamp = _TASK.search(line), _STAMP.match(line)
        if not task or not stamp:
            continue
        at = datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00")).timestamp()
        if task.group(1) == "starting":
            starts.setdefault(task.group(2), at)
        else:
            ends[task.group(2)] = at
    return {t: (starts[t], ends[t]) for t in starts if t in ends}


def transform_parts(spans: dict[str, tuple[float, float]]) -> dict[str, list[tuple[float, float]]]:
    """The transform DAG's dbt task group (first dbt.* task started -> last ended, one window) and
    its quality gate tasks (one window each)."""
    dbt = [s for t, s in spans.items() if t.startswith("dbt.")]
    return {
        "dbt": [(min(s for s, _ in dbt), max(e for _, e in dbt))] if dbt else [],
        "quality gate": [spans[t] for t in GATE_TASKS if t in spans],
    }


def dbt_node_seconds(lines: Iterable[str], top: int = 5) -> list[tuple[str, float]]:
    """The slowest dbt nodes (models, snapshots, tests) of a `dbt build` streamed into the log:
    dbt's own `N of M OK created ... model schema.name .... [CREATE TABLE in 1.23s]` lines."""
    seconds = {m.group(1): float(m.group(2)) for line in lines if (m := _DBT_NODE.search(line))}
    return sorted(seconds.items(), key=lambda kv: -kv[1])[:top]


def peak_in(samples: list[tuple[float, float]], windows: list[tuple[float, float]]) -> float | None:
    """The largest sample (time, MB) inside any of the windows; None when none falls inside."""
    inside = [mb for at, mb in samples if any(s <= at <= e for s, e in windows)]
    return max(inside) if inside else None


def ratio(num: float | None, den: float | None) -> float | None:
    return round(num / den, 3) if num is not None and den else None


def reports_due(run_after: datetime) -> list[tuple[str, datetime]]:
    """The report runs a daily run triggers: those of demo.latest_report_runs falling on the morning
    the interval ends (the daily one always; weekly on Mondays, monthly on the 1st, quarterly on a
    quarter's first day)."""
    day = run_after.astimezone(demo.PARIS).date()
    return [(dag, at) for dag, at in demo.latest_report_runs(run_after) if at.date() == day]


def daily_vs_full(world: dict) -> dict[str, float | None]:
    """Daily wall time / full wall time, per stage (transform parts included) and in total."""
    full, daily = world["full"]["stages"], world["daily"]["stages"]
    out = {name: ratio(daily[name]["wall_s"], full[name]["wall_s"]) for name in full if name in daily}
    out["total"] = ratio(world["daily"]["total_s"], world["full"]["total_s"])
    return out


def history_doubling(short: dict, long: dict) -> dict[str, float | None]:
    """Daily wall time with the longer history / with the shorter, per stage and in total."""
    a, b = short["daily"]["stages"], long["daily"]["stages"]
    out = {name: ratio(b[name]["wall_s"], a[name]["wall_s"]) for name in a if name in b}
    out["total"] = ratio(long["daily"]["total_s"], short["daily"]["total_s"])
    return out


# --------------------------------------------------------------------------- measuring
class TreeSampler:
    """Summed RSS (MB) of every process below this one, every `interval` s, in a thread: while a
    DAG runs, that is the `airflow dags test` process tree (the simulators, started by stack.py in
    their own sessions, are not below it)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.interval):
            total = 0
            for proc in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # ended between the listing and the read
                    total += proc.memory_info().rss
            if total:
                self.samples.append((time.time(), total / 2**20))

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    """User + system CPU seconds of every child process waited for so far, their own children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_dag(dag_id: str, when: datetime, log_dir: Path) -> dict:
    start, used = time.time(), _children_cpu()
    with TreeSampler() as sampler:
        demo.dags_test(dag_id, when, log_dir=log_dir)  # SystemExit on failure
    wall = time.time() - start
    samples = sampler.samples
    out: dict = {
        "logical_date": when.isoformat(),
        "wall_s": round(wall, 1),
        # CPU seconds of the whole tree (dbt included): less sensitive than wall time to a shared machine's load
        "cpu_s": round(_children_cpu() - used, 1),
        "peak_rss_mb": round(max((mb for _, mb in samples), default=0)),
    }
    if dag_id == "transform":
        parts = transform_parts(task_spans((log_dir / f"{dag_id}.log").read_text().splitlines()))
        for name, windows in parts.items():
            peak = peak_in(samples, windows)
            out[name] = {
                "wall_s": round(sum(e - s for s, e in windows), 1) if windows else None,
                "peak_rss_mb": round(peak) if peak is not None else None,
            }
    return out


def run_phase(run_after: datetime, reports: list[tuple[str, datetime]], log_dir: Path) -> dict:
    plan = {
        "extract+load": [(d, run_after) for d in INGEST],
        "transform": [("transform", run_after)],
        "ML training": [("ml_training", run_after)],
        "ML scoring": [("ml_scoring", run_after)],
        "alerts": [("alerts", run_after)],
        "reports": reports,
    }
    stages: dict[str, dict] = {}
    phase_start = datetime.now(UTC)
    for stage, runs in plan.items():
        log(f"--- {stage}")
        dags = {dag_id: run_dag(dag_id, when, log_dir) for dag_id, when in runs}
        stages[stage] = {
            "wall_s": round(sum(d["wall_s"] for d in dags.values()), 1),
            "cpu_s": round(sum(d["cpu_s"] for d in dags.values()), 1),
            "peak_rss_mb": max((d["peak_rss_mb"] for d in dags.values()), default=0),
            "dags": dags,
        }
        log(f"    {stage}: {stages[stage]['wall_s']:.1f}s, peak {stages[stage]['peak_rss_mb']} MB")
        if stage == "transform":
            for part in TRANSFORM_PARTS:
                stages[f"  {part}"] = dags["transform"][part]
    return {
        "run_after": run_after.isoformat(),
        "total_s": round(sum(stages[s]["wall_s"] for s in STAGES), 1),
        "total_cpu_s": round(sum(stages[s]["cpu_s"] for s in STAGES), 1),
        "peak_rss_mb": max(stages[s]["peak_rss_mb"] for s in STAGES),
        "stages": stages,
        "raw_rows": raw_counts(),
        "loads": loads_since(phase_start),
    }


def _loader_conn():
    import psycopg

    from cs_analytics.connections import role_postgres_dsn

    return psycopg.connect(role_postgres_dsn("warehouse_loader", "warehouse"))  # the loader owns raw_*


def raw_counts() -> dict[str, int]:
    with _loader_conn() as conn:
        tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema like 'raw\\_%' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for (t,) in tables}


def loads_since(start: datetime) -> dict[str, dict]:
    """Per source and object, what the loads of a phase read and wrote and the window they asked
    for (window_start null: from the beginning)."""
    with _loader_conn() as conn:
        rows = conn.execute(
            "select source || '.' || object, min(window_start), max(window_end), sum(rows_read), "
            "sum(rows_inserted), sum(rows_updated), sum(rows_unchanged), count(*) "
            "from meta.load_batches where started_at >= %s group by 1 order by 1",
            (start,),
        ).fetchall()
    return {
        name: {"window_start": ws.isoformat() if ws else None, "window_end": we.isoformat() if we else None,
               "read": read, "inserted": ins, "updated": upd, "unchanged": same, "batches": n}
        for name, ws, we, read, ins, upd, same, n in rows
    }  # fmt: skip


# --------------------------------------------------------------------------- resetting the stack
def _db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def reset_stack(env: dict[str, str]) -> None:
    """Empty this checkout's local stack: the warehouse, Airflow metadata and MLflow databases
    dropped (stack.py pg-up re-creates them, closed to PUBLIC; the simulated ERP database is
    rewritten by the generator), the simulated stores and MLflow artifacts removed, the
    simulators stopped (reset_world restarts them on the new stores)."""
    from cs_analytics.warehouse import drop_database

    wh = urlsplit(env["WAREHOUSE_URL"])
    if wh.hostname not in ("127.0.0.1", "localhost") or str(wh.port) != env["LOCAL_PG_PORT"]:
        raise SystemExit(
            f"WAREHOUSE_URL is not this checkout's local cluster (port {env['LOCAL_PG_PORT']}): not resetting it"
        )
    _run("scripts/stack.py", "services-down")
    _run("scripts/stack.py", "pg-up")  # a fresh checkout's cluster is not running yet
    # every database of the cluster is closed to PUBLIC: drop from the ERP one, which the owner reaches
    server = env["ERP_DATABASE_URL"]
    for key in ("WAREHOUSE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "MLFLOW_TRACKING_URI"):
        drop_database(server, _db_name(env[key]))
    for key in ("SIM_DATA_DIR", "GROUND_TRUTH_DIR", "CTI_LANDING_DIR", "MLFLOW_ARTIFACT_ROOT"):
        shutil.rmtree(env[key], ignore_errors=True)
    _run("scripts/stack.py", "pg-up")


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def reset_world(scale: float, years: int, end: date) -> dict:
    """A fresh stack holding the world (scale, years, end); returns the seconds each step took."""
    os.environ.update({"SIM_SCALE": format(scale, "g"), "SIM_YEARS": str(years), "SIM_END_DATE": end.isoformat()})
    env = dict(os.environ)
    steps: dict[str, float] = {}

    def step(name: str, fn, *args) -> None:
        log(f"--- {name}")
        start = time.time()
        fn(*args)
        steps[name] = round(time.time() - start, 1)

    step("reset the local stack", reset_stack, env)
    step("generate the world", demo.generate, end)  # the reset removed the last world's manifest
    step("start the simulators", _run, "scripts/stack.py", "services-up")
    step("airflow metadata db", demo.airflow_db)
    step("flow roles", _run, "-m", "cs_analytics.roles")
    step("dbt parse", demo.dbt_parse)
    return steps


HELD = "scale_stages_held_back"
METHOD = (
    "per world: the local stack reset, the world generated; FULL = every pipeline DAG under "
    "`airflow dags test` for the interval ending end_date 00:00 Europe/Paris (the first runs load "
    "the whole history through end_date-1; the simulated mailbox, which has no clock, has the messages "
    "received on end_date held back in its store) and the latest run of each report; DAILY = the same DAGs "
    "for the interval ending end_date+1 00:00 (day end_date, incremental; the held-back messages released "
    "first) and the reports due that morning (ml_training is weekly in production, run here in every "
    "phase). Stage wall times are sums of the DAG runs' wall times (process start to exit, Airflow "
    "start-up included); dbt = the transform DAG's dbt task group span, quality gate = its two gate "
    "tasks, from the log."
)


def hold_back_mailbox(cutoff: datetime) -> int:
    """The simulated Graph mailbox has no clock: it serves every message through the world's end,
    where the other sources answer for the interval asked (a real mailbox holds nothing after the
    run). For FULL, the messages received from `cutoff` on are moved aside in its store, as if not
    arrived yet; release_mailbox brings them back with new change numbers, as their arrival would."""
    from simulators.graph_api import default_store_path

    stamp = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the store's text format
    with sqlite3.connect(default_store_path()) as conn:
        conn.execute(f"drop table if exists {HELD}")
        conn.execute(f"create table {HELD} as select * from messages where received_at >= '{stamp}'")
        return conn.execute(f"delete from messages where received_at >= '{stamp}'").rowcount


def release_mailbox() -> int:
    from simulators.graph_api import default_store_path

    with sqlite3.connect(default_store_path()) as conn:
        top = conn.execute(
            "select max(seq) from (select max(seq) seq from messages union all select max(seq) from removals)"
        ).fetchone()[0]
        rows = conn.execute(f"select id, folder, received_at, modified_at, payload from {HELD} order by seq").fetchall()
        conn.executemany(
            "insert into messages (id, seq, folder, received_at, modified_at, payload) values (?, ?, ?, ?, ?, ?)",
            [(i, (top or 0) + n + 1, *rest) for n, (i, *rest) in enumerate(rows)],
        )
        conn.execute(f"drop table {HELD}")
    return len(rows)


def measure_world(scale: float, years: int, end: date, runs: int, checkpoint=lambda world: None) -> dict:
    """One world's FULL and DAILY phases; `checkpoint(world)` is called with the FULL phase done, so
    a long world (scale 100) that fails or is stopped in its daily runs keeps its backfill figures."""
    name = f"scale {scale:g}, {years} year{'s' if years > 1 else ''}"
    log(f"\n===== {name}, end date {end}")
    world: dict = {
        "scale": scale, "years": years, "end_date": end.isoformat(), "measured_at": datetime.now(UTC).isoformat(),
        "load_1m_before": machine()["load_1m"],
    }  # fmt: skip
    world["setup_s"] = reset_world(scale, years, end)
    full_after = datetime.combine(end, datetime.min.time(), demo.PARIS)
    daily_after = full_after + timedelta(days=1)
    world["mailbox_messages_held_back_for_full"] = hold_back_mailbox(full_after)
    log(f"\n=== {name}: FULL backfill (interval ending {full_after})")
    world["full"] = run_phase(full_after, demo.latest_report_runs(full_after), LOGS / f"s{scale:g}_y{years}" / "full")
    checkpoint(world)
    release_mailbox()
    reruns = []
    for i in range(runs):
        log(f"\n=== {name}: DAILY run {i + 1}/{runs} (interval ending {daily_after})")
        phase = run_phase(daily_after, reports_due(daily_after), LOGS / f"s{scale:g}_y{years}" / f"daily_{i + 1}")
        if i == 0:
            world["daily"] = phase
        else:
            reruns.append(phase)
    if reruns:
        world["daily_reruns"] = {
            "runs": len(reruns),
            "median_total_s": round(statistics.median(r["total_s"] for r in reruns), 1),
            "median_stage_s": {
                s: round(statistics.median(r["stages"][s]["wall_s"] or 0 for r in reruns), 1) for s in STAGES
            },
            "raw_rows_unchanged": all(r["raw_rows"] == world["daily"]["raw_rows"] for r in reruns),
        }
    full_rows, daily_rows = world["full"]["raw_rows"], world["daily"]["raw_rows"]
    world["raw_rows_added_by_daily"] = {t: n - full_rows.get(t, 0) for t, n in daily_rows.items()}
    world["daily_vs_full"] = daily_vs_full(world)
    annotate_from_logs(world)
    world["load_1m_after"] = machine()["load_1m"]
    return world


def annotate_from_logs(world: dict) -> None:
    """From the logs of the FULL and first DAILY phases, per DAG run: the span of its tasks and the
    time outside them (process start-up, DAG parsing, teardown: a fixed cost per DAG run), and the
    transform's slowest dbt nodes."""
    base = LOGS / f"s{world['scale']:g}_y{world['years']}"
    for phase, folder in (("full", "full"), ("daily", "daily_1")):
        if phase not in world:
            continue
        outside = 0.0
        for stage in STAGES:
            for dag_id, run in world[phase]["stages"][stage]["dags"].items():
                path = base / folder / f"{dag_id}.log"
                if not path.exists():
                    continue
                lines = path.read_text().splitlines()
                spans = task_spans(lines).values()
                if spans:
                    run["tasks_span_s"] = round(max(e for _, e in spans) - min(s for s, _ in spans), 1)
                    run["outside_tasks_s"] = round(run["wall_s"] - run["tasks_span_s"], 1)
                    outside += run["outside_tasks_s"]
                if dag_id == "transform":
                    run["slowest_dbt_nodes"] = dbt_node_seconds(lines)
        world[phase]["outside_tasks_s"] = round(outside, 1)


# --------------------------------------------------------------------------- results
def world_key(scale: float, years: int) -> str:
    return f"scale {scale:g}, {years}y"


def doubling(worlds: dict) -> dict[str, dict]:
    """History-doubling ratio of the daily run for every scale measured with both N and 2N years."""
    out = {}
    for w in worlds.values():
        longer = worlds.get(world_key(w["scale"], 2 * w["years"]))
        if longer and "daily" in w and "daily" in longer:
            ratios = history_doubling(w, longer)
            if "total_cpu_s" in w["daily"] and "total_cpu_s" in longer["daily"]:
                ratios["total_cpu"] = ratio(longer["daily"]["total_cpu_s"], w["daily"]["total_cpu_s"])
            if "daily_reruns" in w and "daily_reruns" in longer:  # the same comparison on the re-runs' medians
                ratios["total_reruns"] = ratio(
                    longer["daily_reruns"]["median_total_s"], w["daily_reruns"]["median_total_s"]
                )
            out[f"scale {w['scale']:g}: {2 * w['years']}y / {w['years']}y"] = ratios
    return out


def load_line(results: dict) -> str:
    return ", ".join(
        f"{key} {w.get('load_1m_before')}/{w.get('load_1m_after')}" for key, w in results["worlds"].items()
    )


def table(results: dict) -> str:
    worlds = [w for w in results["worlds"].values() if "daily" in w]
    rows = [*STAGES[:2], *(f"  {p}" for p in TRANSFORM_PARTS), *STAGES[2:]]
    head = f"{'stage':<16}" + "".join(f"| {world_key(w['scale'], w['years']):<38}" for w in worlds)
    sub = f"{'':<16}" + "| full s   MB    daily s   MB    daily/full " * len(worlds)
    lines = [head, sub]

    def cell(w: dict, stage: str) -> str:
        f, d = w["full"]["stages"][stage], w["daily"]["stages"][stage]
        r = w["daily_vs_full"].get(stage)
        return (f"| {f['wall_s'] or 0:>7.1f} {f['peak_rss_mb'] or 0:>5} {d['wall_s'] or 0:>8.1f} {d['peak_rss_mb'] or 0:>5}"
                f" {'' if r is None else f'{r:>9.1%}':>10} ")  # fmt: skip

    for stage in rows:
        lines.append(f"{stage:<16}" + "".join(cell(w, stage) for w in worlds))
    lines.append(
        f"{'total':<16}"
        + "".join(
            f"| {w['full']['total_s']:>7.1f} {w['full']['peak_rss_mb']:>5} {w['daily']['total_s']:>8.1f} "
            f"{w['daily']['peak_rss_mb']:>5} {w['daily_vs_full']['total']:>9.1%}  "
            for w in worlds
        )
    )
    lines.append(
        f"{'(outside tasks)':<16}"
        + "".join(
            f"| {w['full'].get('outside_tasks_s', 0):>7.1f} {'':>5} {w['daily'].get('outside_tasks_s', 0):>8.1f} {'':>5} {'':>10} "
            for w in worlds
        )
    )
    for name, ratios in results["history_doubling"].items():
        parts = ", ".join(f"{k.strip()} {v:.2f}" for k, v in ratios.items() if v is not None)
        lines.append(f"history doubling, daily run ({name}): {parts}  (target total < 1.2)")
        lines.append(f"  load average (1 min) before/after each world: {load_line(results)}")
    for w in worlds:
        if "daily_reruns" in w:
            r = w["daily_reruns"]
            lines.append(
                f"{world_key(w['scale'], w['years'])}: daily re-runs of the same interval, median of {r['runs']}: "
                f"{r['median_total_s']} s total; raw rows unchanged by them: {r['raw_rows_unchanged']}"
            )
    measured = sorted({w["scale"] for w in worlds})
    missing = [format(s, "g") for s in ISSUE_SCALES if s not in measured]
    if missing:
        lines.append(f"not measured: scale {', '.join(missing)} ({results['not_measured_why']})")
    lines.append("(outside tasks): the DAG runs' time outside their tasks (process start-up, DAG parsing, teardown)")
    lines.append("peak MB: summed RSS of the `airflow dags test` process tree; the PostgreSQL server is not included")
    return "\n".join(lines)


def save(results: dict) -> None:
    results["history_doubling"] = doubling(results["worlds"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SIM_SCALE", 1)))
    parser.add_argument("--years", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--runs", type=int, default=2, help="daily runs of the same interval (the first is the headline)"
    )
    parser.add_argument("--end-date", type=date.fromisoformat, default=None, help="default: yesterday in Paris")
    args = parser.parse_args()
    end = args.end_date or demo.end_date()
    # as scripts/demo.py: failures shown at once, the reports' marts wait short (built just before)
    os.environ.setdefault("TASK_RETRY_DELAY_SECONDS", "3")
    os.environ.setdefault("REPORT_MARTS_WAIT_SECONDS", "30")
    os.environ.setdefault("REPORT_MARTS_POKE_SECONDS", "5")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "seed": os.environ.get("SIM_SEED"),
        "method": METHOD,
        "memory": "peak of the summed RSS of the `airflow dags test` process tree (dbt subprocesses included), "
        "sampled every 0.2 s; PostgreSQL server memory NOT included",
        "not_measured_why": NOT_MEASURED_WHY,
        "worlds": previous.get("worlds", {}),
    }
    start = time.time()
    failed = False
    partial: dict[str, dict] = {}  # this run's worlds as far as measured: the FULL phase once done

    def checkpoint(key: str, world: dict) -> None:
        partial[key] = results["worlds"][key] = world
        save(results)

    for years in sorted(args.years):
        key = world_key(args.scale, years)
        try:
            results["worlds"][key] = measure_world(
                args.scale, years, end, args.runs, functools.partial(checkpoint, key)
            )
        except (SystemExit, subprocess.CalledProcessError) as exc:
            failed = True
            log(f"{key}: FAILED: {exc}")  # a failed daily run keeps its world's FULL figures
            world = partial.get(key, {"scale": args.scale, "years": years})
            results["worlds"][key] = {**world, "error": str(exc)[-2000:]}
        save(results)
    results["benchmark_wall_s"] = round(time.time() - start, 1)
    save(results)
    log("\n" + table(results))
    log(f"\nwritten to {RESULTS.relative_to(ROOT)} in {results['benchmark_wall_s']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
