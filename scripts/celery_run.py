#!/usr/bin/env python3
"""The daily pipeline under CeleryExecutor with two workers on loopback (`make celery`, and
tests/e2e/test_celery.py through `CeleryStack`).

Redis is the broker and the result backend; the api-server serves the UI and the execution
API the workers' tasks talk to; the scheduler queues the tasks in Redis and two
`airflow celery worker` processes with their own hostnames take them (the dag-processor parses
the DAGs, the triggerer runs deferred sensors). Everything runs in its
own AIRFLOW_HOME and metadata database, so the LocalExecutor setup of `make ui`, `make demo`
and the tests is left alone. Each task records which worker ran it (task_instance.hostname).

    scripts/run.sh python scripts/celery_run.py [--dags ingest_crm,ingest_erp] [--keep]
    scripts/run.sh python scripts/celery_run.py --dags daily --concurrency 4   # the whole daily pipeline

`--dags` takes stages separated by ';', each a comma-separated list of DAGs run together; a stage
starts when the one before has succeeded (the Assets would chain them under the scheduler; here
the runs are triggered so they cover the same interval). `daily` = ingestion; transform; ML
training; ML scoring; alerts and the daily report.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from scripts.demo import INGESTION
from scripts.stack import redis_command

REPO = Path(__file__).resolve().parents[1]
WORKERS = ("worker-a", "worker-b")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# ml_training is weekly; a fresh warehouse has no champion model until it has run once
DAILY = (INGESTION, ("transform",), ("ml_training",), ("ml_scoring",), ("alerts", "report_daily"))


def worker_hostname() -> str:
    """[core] hostname_callable of the Celery processes: two workers on one machine share its name,
    so each says which one it is (CSA_WORKER_HOSTNAME); elsewhere the machine's name, as by default."""
    return os.environ.get("CSA_WORKER_HOSTNAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pg_url(sqlalchemy_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (postgresql+psycopg2://... -> postgresql://...)."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]


def own_metadata_database(name: str) -> str:
    """A metadata database `name` beside the LocalExecutor one (`airflow`), in the same cluster,
    created if missing; its SQLAlchemy URL."""
    local_url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    with psycopg.connect(_pg_url(local_url), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return local_url.rsplit("/", 1)[0] + f"/{name}"


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A throw-away redis-server on 127.0.0.1:port (no persistence), for the test; `make celery`
    uses the stack's (scripts/stack.py redis-up)."""
    binary = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server is missing: run `make redis` (Debian's redis-server package)")
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "redis.log", "ab")  # noqa: SIM115 (kept open for the child's life)
    proc = subprocess.Popen(
        redis_command(binary, port, workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while not _port_open(port):
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"redis-server did not start on {port}; see {workdir / 'redis.log'}")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group (a Celery worker's pool, the api-server's workers), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class CeleryStack:
    """Airflow with CeleryExecutor: api-server, scheduler, dag-processor and two workers, all on
    loopback, with `home` as AIRFLOW_HOME and `metadata_url` (SQLAlchemy) as the metadata DB.
    executor="LocalExecutor", workers=(): the same Airflow without Redis, the scheduler running the
    tasks itself (benchmarks/transform_overhead.py --scheduler)."""

    home: Path
    metadata_url: str
    broker_port: int
    api_port: int
    base_env: dict[str, str]
    concurrency: int = 2
    executor: str = "CeleryExecutor"
    workers: tuple[str, ...] = WORKERS
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.broker_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{self.broker_port}/1",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                # the workers' tasks report to the api-server's execution API with tokens the
                # scheduler signs: one secret for all of them
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": f"http://localhost:{self.api_port}",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scripts.celery_run.worker_hostname",
                # only the runs triggered here: no scheduled or asset-triggered runs besides them
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            }
        )
        return env

    def __post_init__(self) -> None:
        self._jwt = self.base_env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_hex(32)

    def _spawn(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        logs = self.home / "process-logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, **(extra or {})},
                cwd=REPO,
                start_new_session=True,
            )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / "process-logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "db_migrate.log", "w") as log:
            res = subprocess.run(["airflow", "db", "migrate"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if res.returncode != 0:
            raise SystemExit(f"airflow db migrate failed; see {self.home / 'db_migrate.log'}")

    def start(self, dag_ids: tuple[str, ...], timeout: float = 240) -> None:
        """Start every process and return once the api-server answers and `dag_ids` are parsed
        and unpaused (USE_JOB_SCHEDULE=False: unpausing creates no run)."""
        for comp in COMPONENTS:
            self._spawn(comp, [comp])
        for name in self.workers:
            self._spawn(
                name,
                ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(self.concurrency)],
                {"CSA_WORKER_HOSTNAME": name},
            )
        deadline = time.time() + timeout
        while not _port_open(self.api_port):
            self._check_alive()
            if time.time() > deadline:
                raise SystemExit(f"api-server not up on {self.api_port}:\n{self.log_tail('api-server')}")
            time.sleep(0.5)
        while set(dag_ids) - self._parsed(dag_ids):
            self._check_alive()
            if time.time() > deadline:
                missing = set(dag_ids) - self._parsed(dag_ids)
                raise SystemExit(f"DAGs not parsed in time: {sorted(missing)}\n{self.log_tail('dag-processor')}")
            time.sleep(1)
        with psycopg.connect(_pg_url(self.metadata_url), autocommit=True) as conn:
            conn.execute("update dag set is_paused = false where dag_id = any(%s)", (list(dag_ids),))

    def _parsed(self, dag_ids: tuple[str, ...]) -> set[str]:
        with psycopg.connect(_pg_url(self.metadata_url)) as conn:
            rows = conn.execute("select dag_id from serialized_dag where dag_id = any(%s)", (list(dag_ids),)).fetchall()
        return {r[0] for r in rows}

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited (code {proc.returncode}):\n{self.log_tail(name)}")

    def trigger(self, dag_ids: tuple[str, ...], run_after: datetime) -> dict[str, str]:
        """One manual run per DAG covering the interval that ends at `run_after` (as
        `airflow dags test <dag> <run_after>` does in the demo); {dag_id: run_id}."""
        code = (
            "import json, sys\n"
            "from datetime import datetime\n"
            "from airflow.api.common.trigger_dag import trigger_dag\n"
            "from airflow.utils.types import DagRunTriggeredByType\n"
            "at = datetime.fromisoformat(sys.argv[1])\n"
            # the metadata database is this script's own: a run of the same day from an earlier
            # `make celery` is replaced, not refused
            "from airflow.models import DagRun\n"
            "from airflow.utils.session import create_session\n"
            "with create_session() as session:\n"
            "    for d in sys.argv[2:]:\n"
            "        for old in session.query(DagRun).filter(DagRun.dag_id == d, DagRun.logical_date == at):\n"
            "            session.delete(old)\n"
            "runs = {d: trigger_dag(d, run_after=at, logical_date=at, triggered_by=DagRunTriggeredByType.CLI).run_id"
            " for d in sys.argv[2:]}\n"
            "print(json.dumps(runs))\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code, run_after.isoformat(), *dag_ids],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if res.returncode != 0:
            raise SystemExit(f"triggering {dag_ids} failed:\n{res.stderr[-3000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    def wait(self, runs: dict[str, str], timeout: float, on_progress=None) -> dict[str, str]:
        """Poll the runs' states until none is queued or running; {dag_id: state}."""
        deadline = time.time() + timeout
        while True:
            with psycopg.connect(_pg_url(self.metadata_url)) as conn:
                states = dict(
                    conn.execute(
                        "select dag_id, state from dag_run where (dag_id, run_id) in "
                        "(select * from unnest(%s::text[], %s::text[]))",
                        (list(runs), list(runs.values())),
                    ).fetchall()
                )
            if on_progress:
                on_progress(states)
            if all(states.get(d) in ("success", "failed") for d in runs):
                return states
            self._check_alive()
            if time.time() > deadline:
                return states
            time.sleep(2)

    def run_seconds(self, runs: dict[str, str]) -> dict[str, float]:
        """Each run's wall time, start to end, as the scheduler recorded it."""
        with psycopg.connect(_pg_url(self.metadata_url)) as conn:
            rows = conn.execute(
                "select dag_id, extract(epoch from end_date - start_date) from dag_run where (dag_id, run_id) in "
                "(select * from unnest(%s::text[], %s::text[]))",
                (list(runs), list(runs.values())),
            ).fetchall()
        return {dag_id: round(float(s), 1) for dag_id, s in rows if s is not None}

    def task_instances(self, runs: dict[str, str]) -> list[dict]:
        """Every task instance of the runs: dag_id, task_id, map_index, state, hostname, try_number."""
        with psycopg.connect(_pg_url(self.metadata_url)) as conn:
            cur = conn.execute(
                "select dag_id, task_id, map_index, state, hostname, try_number from task_instance "
                "where (dag_id, run_id) in (select * from unnest(%s::text[], %s::text[])) order by dag_id, task_id",
                (list(runs), list(runs.values())),
            )
            cols = [c.name for c in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def stop(self) -> None:
        # workers first (a warm shutdown lets a running task finish), then the rest
        for name in [*self.workers, *reversed(COMPONENTS)]:
            if name in self.procs:
                stop(self.procs[name])


def spread(tis: list[dict]) -> Counter:
    """Task instances per worker (hostname; '-' for one that never ran, e.g. skipped)."""
    return Counter(ti["hostname"] or "-" for ti in tis)


def print_report(tis: list[dict], seconds: float) -> None:
    by = spread(tis)
    print(f"\n{len(tis)} task instances in {seconds:.0f}s; per worker:")
    for host, n in sorted(by.items()):
        print(f"  {host:<10} {n:>3}")
    print(f"\n{'dag':<26} {'task':<44} {'state':<10} worker")
    for ti in tis:
        task = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
        print(f"{ti['dag_id']:<26} {task:<44} {ti['state'] or '-':<10} {ti['hostname'] or '-'}")


def main() -> int:
    from scripts import demo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dags", default=",".join(INGESTION), help="stages separated by ';' of comma-separated DAG ids, or 'daily'"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="per stage, seconds")
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    parser.add_argument("--keep", action="store_true", help="leave Airflow running after the run (Ctrl-C stops)")
    args = parser.parse_args()
    stages = (
        DAILY
        if args.dags == "daily"
        else tuple(tuple(d for d in stage.split(",") if d) for stage in args.dags.split(";") if stage.strip())
    )
    dag_ids = tuple(d for stage in stages for d in stage)
    # a `kill` stops the processes this started too (they run in sessions of their own)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("TASK_RETRY_DELAY_SECONDS", "3")
    end = demo.end_date()
    run_after = datetime.combine(end + timedelta(days=1), datetime.min.time(), demo.PARIS)
    demo.generate(end)
    metadata_url = own_metadata_database("airflow_celery")
    stack = CeleryStack(
        home=Path(os.environ["CSA_LOCAL_DIR"]) / "airflow_celery",
        metadata_url=metadata_url,
        broker_port=int(os.environ["REDIS_PORT"]),
        api_port=int(os.environ["AIRFLOW_UI_PORT"]),
        base_env=dict(os.environ),
        concurrency=args.concurrency,
    )
    if _port_open(stack.api_port):
        raise SystemExit(f"port {stack.api_port} is taken (is `make ui` running? `make stop` first)")
    start = time.time()
    print(f"[celery] metadata database airflow_celery, AIRFLOW_HOME {stack.home}", flush=True)
    stack.migrate()
    try:
        stack.start(dag_ids)
        print(f"[celery] Airflow UI: http://localhost:{stack.api_port}  workers: {', '.join(WORKERS)}", flush=True)
        runs: dict[str, str] = {}
        seen: dict[str, str] = {}
        done: set[tuple] = set()

        def progress(states: dict[str, str]) -> None:
            # each task as it ends, with the worker that ran it; then each run as it ends
            for ti in stack.task_instances(runs):
                key = (ti["dag_id"], ti["task_id"], ti["map_index"])
                if ti["state"] in ("success", "failed", "skipped", "upstream_failed") and key not in done:
                    done.add(key)
                    task = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
                    print(
                        f"[celery] {time.time() - start:6.0f}s  {ti['dag_id']:<24} {task:<40} "
                        f"{ti['state']:<8} {ti['hostname'] or '-'}",
                        flush=True,
                    )
            for dag_id, state in states.items():
                if seen.get(dag_id) != state:
                    seen[dag_id] = state
                    print(f"[celery] {time.time() - start:6.0f}s  {dag_id:<24} run {state}", flush=True)

        states: dict[str, str] = {}
        for stage in stages:
            stage_runs = stack.trigger(stage, run_after)
            runs.update(stage_runs)
            print(f"[celery] triggered {', '.join(stage)} for {end} (interval ending {run_after})", flush=True)
            states.update(stack.wait(stage_runs, args.timeout, progress))
            if any(states.get(d) != "success" for d in stage):
                print(f"[celery] stage {', '.join(stage)} did not succeed: {states}; later stages not run", flush=True)
                break
        tis = stack.task_instances(runs)
        print_report(tis, time.time() - start)
        if args.keep:
            print(f"\n[celery] still running: http://localhost:{stack.api_port}  (Ctrl-C stops)", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if all(s == "success" for s in states.values()) else 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
