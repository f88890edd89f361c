#!/usr/bin/env python3
"""Load time of each Superset dashboard, at scale 1 and scale 10 of the simulated company.

For each scale, on throw-away databases of the local cluster:
  1. generate the world, load it with the production loaders and `dbt build` it
     (benchmarks/quality_gate.py's steps), then write every model's output with the production
     functions and rebuild the `ml_outputs` marts, as ml_training and ml_scoring do;
  2. start Superset the way `make bi` does (scripts/stack.py bi-up, on a throw-away home and
     port) and provision the dashboards of bi/ onto that warehouse;
  3. in headless Chromium, logged in as the admin, open each dashboard --runs times and time
     it from navigation to the moment every chart has its data and has drawn it (the same
     wait as the browser tests). The first open is cold (connection pool, Python imports);
     the median of the others is the figure reported. Superset caches no query results
     here (DATA_CACHE_CONFIG is Superset's NullCache): every open queries the warehouse.

    scripts/run.sh python benchmarks/bi_dashboards.py [--scales 1 10] [--runs 4]

Prints a table (dashboard x scale) and writes benchmarks/results/bi_dashboards.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

import yaml  # noqa: E402

from benchmarks.quality_gate import Timer, dbt_build, load_everything, scratch_db  # noqa: E402
from cs_analytics.transform.bi_access import ensure_bi_reader  # noqa: E402
from cs_analytics.transform.publish import publish_marts, publish_ml_outputs  # noqa: E402
from cs_analytics.warehouse import Warehouse  # noqa: E402
from simulators.export import Destinations, generate  # noqa: E402
from simulators.world.config import PARIS, WorldConfig, default_end_date  # noqa: E402
from tests.browser.pages import CHROMIUM_ARGS, login, open_dashboard  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bi_dashboards.json"
DASHBOARDS = {
    path.stem: len(yaml.safe_load(path.read_text(encoding="utf-8")).get("charts") or {})
    for path in sorted((ROOT / "bi" / "dashboards").glob("*.yaml"))
}


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def score_models(server_url: str, wh: Warehouse, work: Path, db_name: str, stack: ExitStack) -> None:
    """Every model's output (tests/browser/scoring.py; churn and segments in a throw-away MLflow
    registry), then the `ml_outputs` marts rebuilt, as ml_scoring does: every tile has data."""
    from tests.browser.scoring import score_every_model

    last_day = wh.query("select max(kpi_date) from marts.mart_kpi_daily")[0][0]
    _, registry_url = stack.enter_context(scratch_db(server_url, "bench_bi_mlflow", False))
    score_every_model(wh, last_day, registry_url, work / "mlruns", "benchmark")
    env = {**os.environ, "WAREHOUSE_DB": db_name}
    subprocess.run(
        ["dbt", "run", "--select", "tag:ml_outputs", "--project-dir", str(ROOT / "dbt_project"),
         "--profiles-dir", str(ROOT / "dbt_project"), "--target-path", str(work / "dbt_target"),
         "--log-path", str(work / "dbt_logs")],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    publish_ml_outputs(wh, work / "dbt_target" / "manifest.json")


def measure_scale(scale: float, years: int, runs: int, server_url: str, stack: ExitStack) -> dict:
    from playwright.sync_api import sync_playwright

    timer = Timer()
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench_bi_{scale:g}_")))
    erp_name, erp_url = stack.enter_context(scratch_db(server_url, "bench_bi_erp", False))
    wh_name, wh_url = stack.enter_context(scratch_db(server_url, "bench_bi_wh", False))
    data_dir, landing = work / "sim", work / "landing"
    for folder in (data_dir, landing):
        folder.mkdir(parents=True)
    end_date = default_end_date(datetime.now(PARIS))
    with timer.stage(f"scale {scale:g}: generate, load, dbt build"):
        generate(
            WorldConfig(end_date=end_date, seed=42, scale=scale, years=years),
            Destinations(data_dir, work / "ground_truth", landing, erp_url, erp_schema="dbo"),
        )
        wh = Warehouse(wh_url)
        raw_rows = load_everything(wh, erp_url, data_dir, landing)
        dbt = dbt_build(wh_name, work)
        if dbt["returncode"] != 0:
            raise SystemExit(f"dbt build failed at scale {scale:g}: {dbt['summary']} (see {work / 'dbt_build.log'})")
        ensure_bi_reader(wh, os.environ["BI_READER_PASSWORD"])
        # built into the hidden build schema: published as the transform DAG does
        publish_marts(wh, work / "dbt_target" / "manifest.json")
        score_models(server_url, wh, work, wh_name, stack)
    calls = wh.query("select count(*) from marts.fct_calls")[0][0]

    port = free_port()
    env = {
        **os.environ,
        "SUPERSET_HOME": str(work / "superset"),
        "SUPERSET_DATABASE_URL": f"sqlite:///{work / 'superset' / 'superset.db'}?check_same_thread=false",
        "BI_PORT": str(port),
        "BI_URL": f"http://127.0.0.1:{port}",
        "BI_WAREHOUSE_URL": wh_url,
    }
    stack_py = [sys.executable, str(ROOT / "scripts" / "stack.py")]
    stack.callback(subprocess.run, [*stack_py, "bi-down"], env=env, cwd=ROOT, capture_output=True)
    with timer.stage(f"scale {scale:g}: start Superset and provision"):
        subprocess.run([*stack_py, "bi-up"], env=env, cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "cs_analytics.bi.provision"], env=env, cwd=ROOT, check=True)

    loads: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        page = login(browser, env["BI_URL"], env["BI_ADMIN_USER"], env["BI_ADMIN_PASSWORD"])
        for slug, charts in DASHBOARDS.items():
            loads[slug] = [round(open_dashboard(page, env["BI_URL"], slug, charts).seconds, 2) for _ in range(runs)]
            log(f"    {slug:<12} {loads[slug]}")
        browser.close()
    return {
        "scale": scale,
        "years": years,
        "raw_rows": sum(raw_rows.values()),
        "fct_calls_rows": calls,
        "stage_seconds": {k: round(v, 1) for k, v in timer.stages.items()},
        "load_seconds": loads,
        "median_warm_seconds": {slug: round(statistics.median(times[1:] or times), 2) for slug, times in loads.items()},
        # the machine is shared: its load while the dashboards were opened says how far to trust the times
        "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4, help="opens per dashboard (the first is cold)")
    args = parser.parse_args()
    server_url = os.environ.get("WAREHOUSE_URL")
    if not server_url or not os.environ.get("BI_ADMIN_PASSWORD"):
        sys.exit("WAREHOUSE_URL / BI_ADMIN_PASSWORD not set: run through scripts/run.sh")
    if not (ROOT / ".venv-bi" / "bin" / "superset").exists():
        sys.exit(".venv-bi is missing: run `make install-bi` first")

    results = []
    for scale in args.scales:
        log(f"=== scale {scale:g}")
        with ExitStack() as stack:
            results.append(measure_scale(scale, args.years, args.runs, server_url, stack))

    print("\n" + "-" * 72)
    header = f"{'dashboard':<14}{'charts':>7}" + "".join(f"{'scale ' + format(r['scale'], 'g'):>16}" for r in results)
    print(header + "   (seconds to every chart drawn; median of warm opens, cold in brackets)")
    print("-" * 72)
    for slug, charts in DASHBOARDS.items():
        cells = "".join(f"{r['median_warm_seconds'][slug]:>9.2f} ({r['load_seconds'][slug][0]:.1f})" for r in results)
        print(f"{slug:<14}{charts:>7}{cells}")
    print("-" * 72)
    print("fct_calls rows: " + ", ".join(f"scale {r['scale']:g}: {r['fct_calls_rows']:,}" for r in results))
    print(
        "load average after each scale: "
        + ", ".join(f"scale {r['scale']:g}: {r['load_average_1_5_15']}" for r in results)
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "superset": "6.1.0, gunicorn 2 workers x 4 threads, no result cache",
                "runs_per_dashboard": args.runs,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
