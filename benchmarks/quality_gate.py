#!/usr/bin/env python3
"""Wall time of the Great Expectations quality gate at 10x the default scale, beside `dbt build`.

On throw-away databases of the local cluster:
  1. generate the simulated world at --scale (default 10) into temporary folders and a
     scratch ERP database (`simulators.export.generate`);
  2. load it with the production loaders (CTI files, ERP COPY, CRM and app APIs served
     in-process by the simulators) into a scratch warehouse;
  3. time `dbt build` on the scratch warehouse (WAREHOUSE_DB pointed at it; target and
     logs in a temporary folder). If the dbt project is mid-change and some models fail,
     the time of what did build is reported, with the failure count;
  4. time the quality gate (every suite in expectations/suites/, a fresh GX context and
     Data Docs in a temporary folder) — the first run, which validates whole tables:
     the worst case; daily runs only read the rows loaded since the last passed run.

The gate must not be the slowest stage of the pipeline.

    scripts/run.sh python benchmarks/quality_gate.py [--scale 10] [--keep]

Prints a table (stage, seconds) and writes benchmarks/results/quality_gate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from cs_analytics.config import IngestSettings  # noqa: E402
from cs_analytics.ingestion import crm, cti, erp, mobile_app  # noqa: E402
from cs_analytics.ingestion.batch import BatchContext  # noqa: E402
from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy  # noqa: E402
from cs_analytics.quality.gate import run_gate  # noqa: E402
from cs_analytics.quality.specs import load_suite_specs  # noqa: E402
from cs_analytics.transform.publish import PUBLISHED_SCHEMA, build_schema  # noqa: E402
from cs_analytics.warehouse import Warehouse, drop_database  # noqa: E402
from simulators import app_api, crm_api  # noqa: E402
from simulators.export import Destinations, generate  # noqa: E402
from simulators.httpbase import serve_in_thread  # noqa: E402
from simulators.world.config import PARIS, WorldConfig, default_end_date  # noqa: E402
from tests.integration.dbt_world import load_portal_and_mailbox  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "quality_gate.json"
TOKEN = "bench-token"


def log(msg: str) -> None:
    print(msg, flush=True)


def with_database(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, f"/{name}", p.query, p.fragment))


@contextmanager
def scratch_db(server_url: str, prefix: str, keep: bool):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    try:
        yield name, with_database(server_url, name)
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            drop_database(server_url, name)


class Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        log(f"--- {name}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = time.perf_counter() - start
            log(f"    {name}: {self.stages[name]:.1f}s")


def load_everything(wh: Warehouse, erp_url: str, data_dir: Path, landing: Path) -> dict[str, int]:
    settings = IngestSettings(quarantine_max_rate=1.0)
    end = datetime.now(UTC) + timedelta(days=1)
    rows: dict[str, int] = {}

    def ctx(source: str, obj: str) -> BatchContext:
        return BatchContext(source, obj, "benchmark", "bench", None, end)

    r = cti.load_landing_folder(wh, landing, ctx("cti", "calls"), settings)
    rows["raw_cti.calls"] = r.rows_inserted
    erp_wh = Warehouse(erp_url)
    for table in erp.TABLES:
        rows[erp.TABLES[table].raw_table] = erp.load_table(wh, erp_wh, table, ctx("erp", table), settings).rows_inserted
    policy = RetryPolicy(max_retries=3)
    with serve_in_thread(
        crm_api.make_server(store_path=data_dir / "crm.sqlite", token=TOKEN, rate_limit_per_10s=0, search_per_second=0)
    ) as url:
        client = crm.HubSpotClient(ApiSession("crm_api", url, TOKEN, 60.0, policy))
        for obj in (*crm.OBJECTS, "owners"):
            rows[crm.RAW_TABLES[obj]] = crm.load_object(wh, client, obj, ctx("crm", obj), settings).rows_inserted
    with serve_in_thread(
        app_api.make_server(store_path=data_dir / "mobile_app.sqlite", token=TOKEN, rate_limit_per_10s=0)
    ) as url:
        client = mobile_app.MobileAppClient(ApiSession("mobile_app_api", url, TOKEN, 60.0, policy))
        for res in mobile_app.RESOURCES:
            rows[mobile_app.RAW_TABLES[res]] = mobile_app.load_resource(
                wh, client, res, ctx("mobile_app", res), settings
            ).rows_inserted
    rows.update(load_portal_and_mailbox(data_dir, wh, ctx, settings))
    return rows


def dbt_build(db_name: str, work: Path) -> dict:
    env = {**os.environ, "WAREHOUSE_DB": db_name, "DBT_TARGET_PATH": str(work / "dbt_target")}
    cmd = [
        "dbt",
        "build",
        "--project-dir",
        str(ROOT / "dbt_project"),
        "--profiles-dir",
        str(ROOT / "dbt_project"),
        "--target-path",
        str(work / "dbt_target"),
        "--log-path",
        str(work / "dbt_logs"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    tail = [ln for ln in proc.stdout.splitlines() if "Done. PASS=" in ln]
    (work / "dbt_build.log").write_text(proc.stdout + proc.stderr)
    return {"returncode": proc.returncode, "summary": tail[-1].split("Done. ")[-1] if tail else None}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and folders")
    args = parser.parse_args()

    server_url = os.environ.get("WAREHOUSE_URL")
    if not server_url:
        sys.exit("WAREHOUSE_URL is not set: run through scripts/run.sh")
    timer = Timer()
    end_date = default_end_date(datetime.now(PARIS))

    with ExitStack() as stack:
        work = (
            Path(tempfile.mkdtemp(prefix="bench_gate_"))
            if args.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_gate_")))
        )
        erp_name, erp_url = stack.enter_context(scratch_db(server_url, "bench_erp", args.keep))
        wh_name, wh_url = stack.enter_context(scratch_db(server_url, "bench_wh", args.keep))
        data_dir, landing = work / "sim", work / "landing"
        for d in (data_dir, landing):
            d.mkdir(parents=True)

        with timer.stage(f"generate world (scale {args.scale:g})"):
            generate(
                WorldConfig(end_date=end_date, seed=args.seed, scale=args.scale, years=args.years),
                Destinations(data_dir, work / "ground_truth", landing, erp_url, erp_schema="dbo"),
            )
        wh = Warehouse(wh_url)
        with timer.stage("load raw (production loaders)"):
            raw_rows = load_everything(wh, erp_url, data_dir, landing)
        with timer.stage("dbt build"):
            dbt = dbt_build(wh_name, work)
        log(f"    dbt: returncode {dbt['returncode']}, {dbt['summary']}")
        with timer.stage("quality gate"):
            gate = run_gate(
                load_suite_specs(),
                run_id="benchmark_1",
                warehouse=wh,
                context_root=work / "gx",
                docs_dir=work / "data_docs",
                # as in the transform DAG: the mart suites audit the hidden build
                schemas={PUBLISHED_SCHEMA: build_schema(work / "dbt_target" / "manifest.json")},
            )
        log(
            f"    gate: {'PASSED' if gate.passed else 'FAILED'}, {len(gate.outcomes)} expectations, "
            f"{len(gate.critical_failures)} critical, {len(gate.warnings)} warnings"
        )
        for o in gate.critical_failures + gate.warnings:
            log(f"      [{o.severity}] {o.describe()}")

    total_raw = sum(raw_rows.values())
    slowest = max(("load raw (production loaders)", "dbt build", "quality gate"), key=timer.stages.get)
    print("\n" + "-" * 60)
    print(f"{'stage':<40} {'seconds':>10}")
    print("-" * 60)
    for stage, secs in timer.stages.items():
        print(f"{stage:<40} {secs:>10.1f}")
    for stage, secs in gate.stage_seconds.items():
        print(f"{'  gate: ' + stage:<40} {secs:>10.1f}")
    print("-" * 60)
    print(f"raw rows loaded: {total_raw:,}; slowest pipeline stage: {slowest}")
    verdict = timer.stages["quality gate"] < max(
        timer.stages["dbt build"], timer.stages["load raw (production loaders)"]
    )
    print("gate is not the slowest stage: " + ("OK" if verdict else "NO"))

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
                "scale": args.scale,
                "years": args.years,
                "seed": args.seed,
                "end_date": end_date.isoformat(),
                "raw_rows": raw_rows,
                "stage_seconds": {k: round(v, 2) for k, v in timer.stages.items()},
                "dbt": dbt,
                "gate": {
                    "passed": gate.passed,
                    "expectations": len(gate.outcomes),
                    "suites": len({o.suite for o in gate.outcomes}),
                    "critical_failures": [o.describe() for o in gate.critical_failures],
                    "warnings": [o.describe() for o in gate.warnings],
                    "stage_seconds": {k: round(v, 2) for k, v in gate.stage_seconds.items()},
                },
                "gate_not_slowest": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
