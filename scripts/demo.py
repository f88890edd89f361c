#!/usr/bin/env python3
"""`make demo`: run the whole pipeline through Airflow on the simulated history, then
write and print the run summary (build/demo/summary.json).

Stages: generate the simulated world (skipped when the stores already match the
settings) -> Airflow metadata DB -> dbt manifest -> every DAG with `airflow dags test`
for the last full day (ingestion, two DAGs at a time; transformation + quality gate, ML, alerts),
then the intraday alerts at the next opening hour and the latest run of each scheduled report (two
at a time) -> summary.
Each stage prints a line with what it did and how long it took; each DAG prints a
line per finished task. Full logs: build/demo/logs/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("DEMO_OUTPUT_DIR", REPO / "build" / "demo"))
LOGS = OUT / "logs"
PARIS = ZoneInfo("Europe/Paris")
PIPELINE = (
    "ingest_crm", "ingest_cti", "ingest_erp", "ingest_mobile_app", "ingest_portal_analytics", "ingest_mailbox",
    "ingest_weather", "transform", "ml_training", "ml_scoring", "alerts",
)  # fmt: skip
INGESTION = PIPELINE[: PIPELINE.index("transform")]  # independent of one another: each loads its own source
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)(?: map_index=(-?\d+))?")
_TASK_STATE = re.compile(r"Task instance state updated.*new_state=(\w+)")


def say(msg: str) -> None:
    print(msg, flush=True)


class Stages:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.t0 = time.time()

    def run(self, name: str, fn, *args):
        say(f"\n== {name}")
        start = time.time()
        try:
            return fn(*args)
        finally:
            self.timings[name] = round(time.time() - start, 1)
            say(f"   {name}: {self.timings[name]:.1f}s")

    def run_together(self, name: str, runs: list[tuple[str, datetime]]) -> None:
        """dags_test_together as one stage, each DAG's own seconds listed under it."""
        seconds = self.run(name, dags_test_together, runs)
        self.timings.update({f"  dag {dag_id}": s for dag_id, s in seconds.items()})


def end_date() -> date:
    if os.environ.get("SIM_END_DATE"):
        return date.fromisoformat(os.environ["SIM_END_DATE"])
    return datetime.now(PARIS).date() - timedelta(days=1)


def world_is_current(end: date) -> bool:
    manifest = Path(os.environ["GROUND_TRUTH_DIR"]) / "manifest.json"
    if not manifest.exists():
        return False
    from simulators.world.config import GENERATOR_VERSION

    m = json.loads(manifest.read_text())
    return (
        m.get("generator_version") == GENERATOR_VERSION  # a newer generator writes other sources
        and str(m.get("seed")) == os.environ["SIM_SEED"]
        and float(m.get("scale", -1)) == float(os.environ["SIM_SCALE"])
        and str(m.get("end_date")) == end.isoformat()
        and int(m.get("years", -1)) == int(os.environ["SIM_YEARS"])
    )


def generate(end: date) -> None:
    if world_is_current(end) and not os.environ.get("DEMO_REGENERATE"):
        say(f"   simulated world up to {end} already generated (set DEMO_REGENERATE=1 to rebuild it)")
        return
    subprocess.run([sys.executable, "-m", "simulators", "generate", "--end-date", end.isoformat()], check=True)


def airflow_db() -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "airflow_db_migrate.log", "w") as log:
        subprocess.run(["airflow", "db", "migrate"], check=True, stdout=log, stderr=subprocess.STDOUT)
    say("   metadata database migrated")


def dbt_parse() -> None:
    with open(LOGS / "dbt_parse.log", "w") as log:
        subprocess.run(
            ["dbt", "parse", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    say("   dbt manifest written (dbt_project/target/manifest.json)")


def dags_test(
    dag_id: str, logical_date: datetime, log_dir: Path = LOGS, env: dict[str, str] | None = None,
    run_created: threading.Event | None = None,
) -> float:  # fmt: skip
    """Run one DAG with `airflow dags test`, printing a line per finished task; SystemExit on failure.
    Sets `run_created` once its DAG run exists (or it ended). Returns its wall time in seconds."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{dag_id}.log"
    start = time.time()
    states: list[str] = []
    failed: list[str] = []
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                ["airflow", "dags", "test", dag_id, logical_date.isoformat()],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=REPO,
                env=env,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if run_created is not None and "Created dag run" in line:
                    run_created.set()
                m = _TASK_STATE.search(line)
                if m:
                    states.append(m.group(1))
                m = _TASK_END.search(line)
                if m:
                    task = m.group(1) + (f"[{m.group(2)}]" if m.group(2) not in (None, "-1") else "")
                    state = states[-1] if states else "?"
                    if state in ("failed", "upstream_failed"):
                        failed.append(task)
                    say(f"   {dag_id:<18} {task:<48} {state:<10} {time.time() - start:6.1f}s")
            rc = proc.wait()
    finally:  # the DAG run exists, or never will: let the others start
        if run_created is not None:
            run_created.set()
    if rc != 0 or failed or "state=failed" in log_path.read_text()[-3000:]:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(
            f"\nDAG {dag_id} failed (tasks: {', '.join(failed) or 'see log'}); "
            f"full log: {log_path}\n--- last lines ---\n{tail}"
        )
    return time.time() - start


def dags_test_together(
    runs: list[tuple[str, datetime]], log_dir: Path = LOGS, env: dict[str, str] | None = None, at_once: int = 2
) -> dict[str, float]:
    """Run independent DAGs (dag id, logical date) `at_once` at a time, as the scheduler would.
    Most of an `airflow dags test` of an ingestion or report DAG is its own start-up on one core
    (imports, parsing the DAG folder, the in-process execution API: ~15 s against ~1-5 s of work at
    the default scale), so two at a time on 2 cores nearly halve the stage. Every DAG runs to its
    end; SystemExit naming each one that failed. Returns each DAG's wall time in seconds."""
    (first, first_when), *rest = runs
    first_created = threading.Event()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = {first: pool.submit(dags_test, first, first_when, log_dir, env, first_created)}
        # Each `dags test` first writes every DAG of the folder to the metadata database: on a
        # fresh one, two such first writes at once collide (dag_pkey). The others start once the
        # first has written them and created its run.
        first_created.wait()
        futures.update({dag_id: pool.submit(dags_test, dag_id, when, log_dir, env) for dag_id, when in rest})
    failed = [str(f.exception()) for f in futures.values() if f.exception() is not None]
    if failed:
        raise SystemExit("\n".join(failed))
    return {dag_id: round(f.result(), 1) for dag_id, f in futures.items()}


def first_business_quarter_hour(after: datetime) -> datetime:
    """The first run of alerts_intraday at or after `after`: 08:00 Paris on the next weekday."""
    day = after.astimezone(PARIS).date()
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), PARIS).replace(hour=8)


def latest_report_runs(after: datetime) -> list[tuple[str, datetime]]:
    """The last run of each report DAG due by the morning after the history (its period complete):
    daily 08:00 that morning, weekly the Monday 09:00 on or before it, monthly the 1st 09:00,
    quarterly the quarter's first day 10:00 (reports/catalog.py, Europe/Paris)."""
    day = after.astimezone(PARIS).date()
    at = lambda d, h: datetime.combine(d, datetime.min.time(), PARIS).replace(hour=h)  # noqa: E731
    return [
        ("report_daily", at(day, 8)),
        ("report_weekly", at(day - timedelta(days=day.weekday()), 9)),
        ("report_monthly", at(day.replace(day=1), 9)),
        ("report_quarterly", at(day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1), 10)),
    ]


def main() -> int:
    # A failure in the demo is shown at once rather than after minutes of retry delays.
    os.environ.setdefault("TASK_RETRY_DELAY_SECONDS", "3")
    # the reports' wait for fresh marts: the demo's marts are built just before, never late
    os.environ.setdefault("REPORT_MARTS_WAIT_SECONDS", "30")
    os.environ.setdefault("REPORT_MARTS_POKE_SECONDS", "5")
    OUT.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    end = end_date()
    # The daily DAGs cover [D 00:00, D+1 00:00) Paris: run them "after" D+1 00:00 to get day D.
    run_after = datetime.combine(end + timedelta(days=1), datetime.min.time(), PARIS)
    say(f"Demo: simulated history up to {end} (seed {os.environ['SIM_SEED']}, scale {os.environ['SIM_SCALE']})")
    ok = True
    error = None
    try:
        stages.run("generate simulated sources", generate, end)
        stages.run("airflow metadata db", airflow_db)
        stages.run("dbt manifest", dbt_parse)
        ingestion = [(dag_id, run_after) for dag_id in INGESTION]
        stages.run_together(f"ingestion, {len(INGESTION)} DAGs 2 at a time", ingestion)
        for dag_id in PIPELINE[len(INGESTION) :]:
            stages.run(f"dag {dag_id}", dags_test, dag_id, run_after)
        # the real-time alerts' first quarter hour of business after the history ends, and the
        # latest run of each report: each reads the marts and sends its own messages
        later = [("alerts_intraday", first_business_quarter_hour(run_after)), *latest_report_runs(run_after)]
        stages.run_together("alerts_intraday and reports, 2 at a time", later)
    except (SystemExit, subprocess.CalledProcessError) as exc:
        ok, error = False, str(exc)
        say(str(exc))
    from scripts.summary import build_summary, print_summary

    summary = build_summary(
        stages.timings, total_seconds=round(time.time() - stages.t0, 1), ok=ok, error=error, as_of=end
    )
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)
    say(f"\nSummary written to {OUT / 'summary.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
