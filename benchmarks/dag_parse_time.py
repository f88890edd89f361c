#!/usr/bin/env python3
"""How long each DAG file takes to import, as the dag-processor pays it.

Each round starts a fresh interpreter with the project's settings that imports `airflow.sdk`
(what every DAG file shares; the dag-processor's parent has it loaded too), then forks one
child per DAG file, so each file is imported by a process that has never seen it nor the
project's modules (Cosmos, cs_analytics) and pays for them. Five rounds; the table gives the
median and the slowest wall time of each file and its median CPU time (steadier than the wall
clock on a shared machine), and the interpreter's own `import airflow.sdk`.

    scripts/run.sh python benchmarks/dag_parse_time.py [--runs 5]

Prints a table and writes benchmarks/results/dag_parse_time.json. tests/dags/test_dag_integrity.py
uses parse_seconds() with a 2 s bound per file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dag_parse_time.json"
RUNS = 5
PROBE = r"""
import json, os, runpy, sys, time
t = time.perf_counter()
import airflow.sdk
out = {"preload_seconds": time.perf_counter() - t, "files": {}}
for path in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t, c = time.perf_counter(), time.process_time()
        try:
            runpy.run_path(path)
            msg = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c}
        except BaseException as exc:
            msg = {"error": repr(exc)}
        os.write(w, json.dumps(msg).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out["files"][os.path.basename(path)] = json.loads(data or b'{"error": "no answer"}')
print("RESULT=" + json.dumps(out))
"""


def dag_files() -> list[Path]:
    return sorted((ROOT / "dags").glob("*.py"))


def parse_seconds(paths: list[Path]) -> dict:
    """One round: {"preload_seconds": s, "files": {name: {"seconds": s} or {"error": ...}}}."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, paths)], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT=")), None)
    if line is None:
        raise RuntimeError(f"the parse probe printed no result:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(line.removeprefix("RESULT="))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    paths = dag_files()
    rounds = [parse_seconds(paths) for _ in range(args.runs)]
    rows = []
    for path in paths:
        answers = [r["files"][path.name] for r in rounds]
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise SystemExit(f"{path.name} failed to import: {errors[0]}")
        times = [a["seconds"] for a in answers]
        cpu = [a["cpu_seconds"] for a in answers]
        rows.append(
            {
                "dag_file": path.name,
                "median_seconds": round(statistics.median(times), 3),
                "max_seconds": round(max(times), 3),
                "median_cpu_seconds": round(statistics.median(cpu), 3),
            }
        )
    preload = [r["preload_seconds"] for r in rounds]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        f"\n{'DAG file':<28} {'median s':>9} {'max s':>7} {'CPU s':>7}   ({args.runs} rounds, after `import airflow.sdk`)"
    )
    for r in rows:
        print(
            f"{r['dag_file']:<28} {r['median_seconds']:>9.3f} {r['max_seconds']:>7.3f} {r['median_cpu_seconds']:>7.3f}"
        )
    print(f"{'(import airflow.sdk)':<28} {statistics.median(preload):>9.3f} {max(preload):>7.3f}")
    print(f"load average at the end: {load:.2f} on {os.cpu_count()} cores" if load is not None else "")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "runs": args.runs,
                "method": "fresh interpreter per round, import airflow.sdk, then one forked child per DAG file",
                "airflow_sdk_import_seconds": {
                    "median": round(statistics.median(preload), 3),
                    "max": round(max(preload), 3),
                },
                "load_average_1min": round(load, 2) if load is not None else None,
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
