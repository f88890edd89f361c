#!/usr/bin/env python3
"""What the `transform` DAG costs on top of a plain `dbt build` of the same project on the same data.

Side by side, in one run, round after round (so every option sees the same incremental state):
- `plain dbt build`: `dbt build --threads 4` (the profile's threads), the reference;
- the `transform` DAG under `airflow dags test`, with each Cosmos execution mode
  (DBT_EXECUTION_MODE, see plugins/cs_analytics/transform/dbt.py) and way of starting dbt
  (DBT_INVOCATION_MODE: `subprocess` or the in-process `dbt_runner`):
  `local` = one dbt invocation per model and per test;
  `watcher` = one `dbt build` in a producer task, the per-model tasks read its results.
`<mode>@scheduler` runs the DAG under the scheduler instead (LocalExecutor, its own metadata
database `airflow_bench`, api-server, dag-processor and triggerer started once for the benchmark,
scripts/celery_run.py's stack), timed from the task instances' start and end in that database.
For a DAG run: the whole run's wall time (as_of, both quality gates, publish included) and the
span of its dbt task group (first dbt task started -> last one ended), which is what compares
with the plain build. Medians over --runs rounds; ratios are to the same round's plain build.

Needs the warehouse loaded (the raw tables): run it after `make demo`, or with --prepare, which
generates the world if needed and runs the six ingestion DAGs first.

    nice scripts/run.sh python benchmarks/transform_overhead.py [--runs 3] [--modes watcher:subprocess,local:dbt_runner] [--prepare]
    ... --modes watcher:subprocess,watcher:subprocess@scheduler    # dags test and the scheduler side by side

    SIM_SCALE=10 ... --prepare    # in a clone of its own (.env: other ports): the scale-10 world

Prints a table and writes benchmarks/results/transform_overhead.json (transform_overhead_scale10.json
at SIM_SCALE=10).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

import psycopg  # noqa: E402

from benchmarks.machine import machine  # noqa: E402
from benchmarks.scale_stages import task_spans, transform_parts  # noqa: E402
from scripts import demo  # noqa: E402

# scale 1 (the default world) in transform_overhead.json, another scale beside it
_SCALE = os.environ.get("SIM_SCALE", "1")
RESULTS = (
    ROOT
    / "benchmarks"
    / "results"
    / ("transform_overhead.json" if float(_SCALE) == 1 else f"transform_overhead_scale{float(_SCALE):g}.json")
)
LOGS = ROOT / "build" / "benchmarks" / "transform_overhead"
_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_STATE = re.compile(r"Task instance state updated.*new_state=(\w+)")


def plain_dbt_build(as_of: str, log: Path) -> dict:
    start = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.run(
            ["dbt", "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
             "--vars", json.dumps({"as_of": as_of})],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        ).returncode  # fmt: skip
    return {"ok": rc == 0, "wall_s": time.monotonic() - start}


def mode_env(option: str) -> dict[str, str]:
    """The environment of option = DBT_EXECUTION_MODE[:DBT_INVOCATION_MODE][@scheduler]."""
    execution, _, invocation = option.split("@")[0].partition(":")
    env = {**os.environ, "DBT_EXECUTION_MODE": execution}
    if invocation:
        env["DBT_INVOCATION_MODE"] = invocation
    return env


def dag_run(option: str, run_after: datetime, log: Path) -> dict:
    """`airflow dags test transform` with option = DBT_EXECUTION_MODE[:DBT_INVOCATION_MODE]; times the
    run and its dbt group."""
    env = mode_env(option)
    start = time.monotonic()
    first_dbt = last_dbt = None
    tasks = failed = 0
    state = "?"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["airflow", "dags", "test", "transform", run_after.isoformat()],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            now = time.monotonic()
            if (m := _STATE.search(line)) is not None:
                state = m.group(1)
            if (m := _START.search(line)) is not None and m.group(1).startswith("dbt.") and first_dbt is None:
                first_dbt = now
            if (m := _END.search(line)) is not None:
                tasks += 1
                failed += state in ("failed", "upstream_failed")
                if m.group(1).startswith("dbt."):
                    last_dbt = now
        rc = proc.wait()
    return {
        "ok": rc == 0 and failed == 0,
        "wall_s": time.monotonic() - start,
        "dbt_group_s": (last_dbt - first_dbt) if first_dbt and last_dbt else None,
        "tasks": tasks,
    }


class SchedulerRuns:
    """The transform DAG under the scheduler (LocalExecutor): one Airflow started per option, kept
    for every round, stopped at the end."""

    def __init__(self) -> None:
        self.stacks: dict = {}

    def _stack(self, option: str):
        from scripts.celery_run import CeleryStack, own_metadata_database

        if option not in self.stacks:
            stack = CeleryStack(
                home=Path(os.environ["CSA_LOCAL_DIR"]) / "airflow_bench",
                metadata_url=own_metadata_database("airflow_bench"),
                broker_port=0,
                api_port=int(os.environ["AIRFLOW_UI_PORT"]),
                base_env=mode_env(option),
                executor="LocalExecutor",
                workers=(),
            )
            stack.migrate()
            stack.start(("transform",))
            self.stacks[option] = stack
        return self.stacks[option]

    def run(self, option: str, run_after: datetime, timeout: float = 3600) -> dict:
        from scripts.celery_run import _pg_url

        stack = self._stack(option)
        runs = stack.trigger(("transform",), run_after)
        state = stack.wait(runs, timeout).get("transform")
        with psycopg.connect(_pg_url(stack.metadata_url)) as conn:
            wall, group, tasks, failed = conn.execute(
                """select extract(epoch from max(r.end_date) - max(r.start_date)),
                          extract(epoch from max(t.end_date) filter (where t.task_id like 'dbt.%%')
                                           - min(t.start_date) filter (where t.task_id like 'dbt.%%')),
                          count(*), count(*) filter (where t.state in ('failed', 'upstream_failed'))
                   from dag_run r join task_instance t on t.dag_id = r.dag_id and t.run_id = r.run_id
                   where r.dag_id = 'transform' and r.run_id = %s""",
                (runs["transform"],),
            ).fetchone()
        return {
            "ok": state == "success" and failed == 0,
            "wall_s": float(wall or 0),
            "dbt_group_s": float(group) if group is not None else None,
            "tasks": tasks,
        }

    def stop(self) -> None:
        for stack in self.stacks.values():
            stack.stop()


_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)")
_DBT_CLOCK = re.compile(r"(\d\d:\d\d:\d\d)  (?:Running with dbt|Done\. PASS)")


def rounds_from_logs(count: int, modes: list[str]) -> list[dict]:
    """Rounds a previous run measured, re-read from its logs' timestamps (a run cut short by the time
    box): the plain build from dbt's own clock (start to `Done.`, to the second), a DAG run from its
    first to its last log line, its dbt group from the first dbt task started to the last ended."""

    def stamp(line: str) -> float | None:
        m = _ISO.match(line)
        return datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() if m else None

    rounds = []
    for i in range(count):
        clock = [m.group(1) for m in _DBT_CLOCK.finditer((LOGS / f"plain_{i}.log").read_text())]
        h0, h1 = (datetime.strptime(c, "%H:%M:%S") for c in (clock[0], clock[-1]))
        row = {"plain": {"ok": "ERROR=0" in (LOGS / f"plain_{i}.log").read_text(), "wall_s": (h1 - h0).seconds,
                         "from_logs": True}}  # fmt: skip
        for mode in modes:
            lines = (LOGS / f"dag_{mode.replace(':', '_')}_{i}.log").read_text().splitlines()
            stamps = [t for t in map(stamp, lines) if t]
            ((dbt_start, dbt_end),) = transform_parts(task_spans(lines))["dbt"]
            finished = next((x for x in lines if "DagRun Finished" in x), "")
            row[mode] = {
                "ok": "state=success" in finished,
                "wall_s": stamps[-1] - stamps[0],
                "dbt_group_s": dbt_end - dbt_start,
                "tasks": sum("[DAG TEST] end task" in x for x in lines),
                "from_logs": True,
            }
        rounds.append(row)
    return rounds


def warehouse_loaded() -> bool:
    import psycopg

    with psycopg.connect(os.environ["WAREHOUSE_URL"]) as conn:
        if conn.execute("select to_regclass('raw_cti.calls')").fetchone()[0] is None:
            return False
        return conn.execute("select exists (select 1 from raw_cti.calls)").fetchone()[0]


def prepare(run_after: datetime) -> None:
    """The world and the six ingestion DAGs, unless the raw tables already hold it (after make demo)."""
    end = run_after.date() - timedelta(days=1)
    demo.generate(end)
    if warehouse_loaded():
        print("raw tables already loaded: ingestion skipped", flush=True)
        return
    for dag_id in demo.PIPELINE[: demo.PIPELINE.index("transform")]:
        demo.dags_test(dag_id, run_after, log_dir=LOGS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="watcher:subprocess,watcher:dbt_runner,local:dbt_runner",
        help="DBT_EXECUTION_MODE[:DBT_INVOCATION_MODE] options to compare, comma-separated",
    )
    parser.add_argument("--prepare", action="store_true", help="generate and ingest first")
    parser.add_argument(
        "--from-logs", type=int, default=0, metavar="N",
        help="take rounds 1..N from the logs a previous run left in build/benchmarks/transform_overhead",
    )  # fmt: skip
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    LOGS.mkdir(parents=True, exist_ok=True)
    end = demo.end_date()
    run_after = datetime.combine(end + timedelta(days=1), datetime.min.time(), demo.PARIS)
    as_of = run_after.astimezone(UTC).isoformat()
    if args.prepare:
        prepare(run_after)
    host = machine()
    print(f"machine: {host['cores']} cores, {host['memory_gb']} GB, load {host['load_1m']} (shared)", flush=True)
    rounds: list[dict] = rounds_from_logs(args.from_logs, modes) if args.from_logs else []
    if len(rounds) < args.runs:
        warm = plain_dbt_build(as_of, LOGS / "warmup.log")  # the first build fills the incremental facts
        if not warm["ok"]:
            print(f"warm-up dbt build failed: see {LOGS / 'warmup.log'} (is the warehouse loaded? --prepare)")
            return 1
    scheduler = SchedulerRuns()
    try:
        for i in range(len(rounds), args.runs):
            row = {"plain": plain_dbt_build(as_of, LOGS / f"plain_{i}.log")}
            for mode in modes:
                if mode.endswith("@scheduler"):
                    row[mode] = scheduler.run(mode, run_after)
                else:
                    row[mode] = dag_run(mode, run_after, LOGS / f"dag_{mode.replace(':', '_')}_{i}.log")
            rounds.append(row)
            print(f"round {i + 1}: " + ", ".join(f"{k} {v['wall_s']:.1f}s{'' if v['ok'] else ' FAILED'}"
                                                 for k, v in row.items()), flush=True)  # fmt: skip
            write_results(rounds, modes, host)  # after every round: a run cut short keeps what it measured
    finally:
        scheduler.stop()
    if not rounds:
        return 1
    summary = write_results(rounds, modes, host, show=True)
    return 0 if all(v["ok"] for v in summary.values()) else 1


def write_results(rounds: list[dict], modes: list[str], host: dict, show: bool = False) -> dict:
    def med(key: str, field: str) -> float | None:
        values = [r[key][field] for r in rounds if r[key].get(field) is not None]
        return round(statistics.median(values), 1) if values else None

    def ratio(key: str, field: str) -> float | None:
        values = [r[key][field] / r["plain"]["wall_s"] for r in rounds if r[key].get(field)]
        return round(statistics.median(values), 2) if values else None

    summary = {"plain dbt build": {"wall_s": med("plain", "wall_s"), "ok": all(r["plain"]["ok"] for r in rounds)}}
    for mode in modes:
        summary[f"transform DAG, {mode}"] = {
            "wall_s": med(mode, "wall_s"),
            "dbt_group_s": med(mode, "dbt_group_s"),
            "dbt_group_vs_plain": ratio(mode, "dbt_group_s"),
            "dag_vs_plain": ratio(mode, "wall_s"),
            "tasks": rounds[-1][mode]["tasks"],
            "ok": all(r[mode]["ok"] for r in rounds),
        }
    if show:
        print(
            f"\n{'option':<36} {'wall s':>8} {'dbt group s':>12} {'group/plain':>12} {'DAG/plain':>10} {'tasks':>6} ok"
        )
        for name, v in summary.items():
            print(
                f"{name:<36} {v['wall_s'] or 0:>8.1f} {v.get('dbt_group_s') or 0:>12.1f} "
                f"{v.get('dbt_group_vs_plain') or 1:>12.2f} {v.get('dag_vs_plain') or 1:>10.2f} "
                f"{v.get('tasks', ''):>6} {v['ok']}"
            )
        print(f"median of {len(rounds)} round(s); target: dbt group within 1.3x of the plain build")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": host,
                "scale": os.environ.get("SIM_SCALE"),
                "runs": len(rounds),
                "summary": summary,
                "modes": modes,
                "rounds": rounds,
            },
            indent=2,
        )
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
