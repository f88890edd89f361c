#!/usr/bin/env python3
"""Model quality against the simulators' ground truth, at scale 1 and 10.

For each scale, a world is generated (fixed end date and seed), loaded with the production
loaders into a throw-away warehouse and built with `dbt build` (the same steps as
benchmarks/quality_gate.py), then every evaluation module in `benchmarks/ml_eval/` scores its
models on that warehouse against `GROUND_TRUTH_DIR` files of that world.

An evaluation module exposes `evaluate(ctx) -> list[dict]`, each dict with the keys
`model, metric, value, oracle, baselines (dict name -> value), target (text), met (bool or None),
train_seconds, score_seconds, peak_mb, scale, note`. `ctx` is an EvalContext (below); `measure`
times a call and its peak traced memory (tracemalloc: Python and NumPy allocations; native
buffers inside LightGBM or BLAS are not counted).

    scripts/run.sh python benchmarks/ml_quality.py                 # scales 1 and 10 (about 25 min)
    scripts/run.sh python benchmarks/ml_quality.py --quick         # scale 1 only
    scripts/run.sh python benchmarks/ml_quality.py --scale 1 --keep        # keep the built world
    scripts/run.sh python benchmarks/ml_quality.py --scale 1 --reuse DIR   # reuse a kept world
    scripts/run.sh python benchmarks/ml_quality.py --only churn            # one evaluation module

Prints one table and writes benchmarks/results/ml_quality.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(ROOT / "benchmarks")]

RESULTS = ROOT / "benchmarks" / "results" / "ml_quality.json"
END_DATE = date(2026, 6, 30)
KEYS = ("model", "metric", "value", "oracle", "baselines", "target", "met", "train_seconds", "score_seconds",
        "peak_mb", "scale", "note")  # fmt: skip


@dataclass
class EvalContext:
    scale: float
    seed: int
    years: int
    end_date: date
    warehouse_url: str
    truth_dir: Path
    work_dir: Path

    @property
    def warehouse(self):
        from cs_analytics.warehouse import Warehouse

        return Warehouse(self.warehouse_url)

    def truth(self, name: str, **read_csv: Any):
        import pandas as pd

        return pd.read_csv(self.truth_dir / name, **read_csv)


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, peak traced MB) of fn()."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, seconds, peak


def row(**values: Any) -> dict[str, Any]:
    """A result row with every key, rounded for the table and the JSON."""
    out = {k: values.get(k) for k in KEYS}
    out["baselines"] = out["baselines"] or {}
    for key in ("train_seconds", "score_seconds", "peak_mb"):
        if out[key] is not None:
            out[key] = round(float(out[key]), 2)
    return out


def build_world(scale: float, seed: int, years: int, end: date, server_url: str, stack: ExitStack, keep: bool):
    """Generate, load and build a world; returns (warehouse url, truth dir, work dir)."""
    import quality_gate as qg

    from cs_analytics.warehouse import Warehouse
    from simulators.export import Destinations, generate
    from simulators.world.config import WorldConfig

    work = Path(tempfile.mkdtemp(prefix=f"bench_ml_s{scale:g}_"))
    if not keep:
        import shutil

        stack.callback(shutil.rmtree, work, True)
    erp_name, erp_url = stack.enter_context(qg.scratch_db(server_url, "bench_ml_erp", keep))
    wh_name, wh_url = stack.enter_context(qg.scratch_db(server_url, "bench_ml_wh", keep))
    data_dir, landing = work / "sim", work / "landing"
    for d in (data_dir, landing):
        d.mkdir(parents=True)
    started = time.perf_counter()
    generate(
        WorldConfig(end_date=end, seed=seed, scale=scale, years=years),
        Destinations(data_dir, work / "ground_truth", landing, erp_url, erp_schema="dbo"),
        log=lambda _: None,
    )
    qg.log(f"    generated in {time.perf_counter() - started:.0f}s; loading")
    qg.load_everything(Warehouse(wh_url), erp_url, data_dir, landing)
    qg.log(f"    loaded in {time.perf_counter() - started:.0f}s; dbt build")
    dbt = qg.dbt_build(wh_name, work)
    qg.log(f"    dbt: {dbt['summary']} (rc {dbt['returncode']}) after {time.perf_counter() - started:.0f}s")
    (work / "world.json").write_text(json.dumps({"warehouse_url": wh_url, "scale": scale, "end_date": str(end)}))
    if keep:
        qg.log(f"    kept world: --reuse {work}")
    return wh_url, work / "ground_truth", work


def evaluation_modules(only: list[str] | None) -> list[Any]:
    import ml_eval

    names = sorted(m.name for m in pkgutil.iter_modules(ml_eval.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"ml_eval.{n}") for n in names if not only or n in only]


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'scale':>5} {'model':<24} {'metric':<26} {'value':>7} {'oracle':>7}  {'baselines':<46} "
              f"{'target':<24} {'met':>4} {'train s':>8} {'score s':>8} {'peak MB':>8}")  # fmt: skip
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        baselines = ", ".join(f"{k} {_fmt(v)}" for k, v in r["baselines"].items())
        print(
            f"{_fmt(r['scale']):>5} {r['model']:<24} {r['metric']:<26} {_fmt(r['value']):>7} {_fmt(r['oracle']):>7}  "
            f"{baselines:<46} {_fmt(r['target']):<24} {_fmt(r['met']):>4} {_fmt(r['train_seconds']):>8} "
            f"{_fmt(r['score_seconds']):>8} {_fmt(r['peak_mb']):>8}"
        )
    notes = [(r["scale"], r["model"], r["metric"], r["note"]) for r in rows if r.get("note")]
    if notes:
        print("\nnotes:")
        for scale, model, metric, note in notes:
            print(f"  [scale {_fmt(scale)}] {model} / {metric}: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, action="append", help="repeatable; default 1 and 10")
    parser.add_argument("--quick", action="store_true", help="scale 1 only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--end-date", type=date.fromisoformat, default=END_DATE)
    parser.add_argument("--keep", action="store_true", help="keep the built worlds (databases and folders)")
    parser.add_argument("--reuse", type=Path, action="append", default=[], help="a world folder kept by --keep")
    parser.add_argument("--only", action="append", help="evaluation module(s) to run (file name without .py)")
    args = parser.parse_args()
    server_url = os.environ.get("WAREHOUSE_URL")
    if not server_url:
        sys.exit("WAREHOUSE_URL is not set: run through scripts/run.sh")

    modules = evaluation_modules(args.only)
    rows: list[dict[str, Any]] = []
    worlds = []
    with ExitStack() as stack:
        for folder in args.reuse:
            meta = json.loads((folder / "world.json").read_text())
            worlds.append((float(meta["scale"]), meta["warehouse_url"], folder / "ground_truth", folder))
        if not args.reuse:
            scales = [1.0] if args.quick else (args.scale or [1.0, 10.0])
            for scale in scales:
                print(f"--- scale {scale:g}: build the world", flush=True)
                worlds.append((scale, *build_world(scale, args.seed, args.years, args.end_date, server_url, stack,
                                                   args.keep)))  # fmt: skip
        for scale, wh_url, truth_dir, work in worlds:
            manifest = json.loads((truth_dir / "manifest.json").read_text())
            ctx = EvalContext(
                scale, manifest["seed"], manifest["years"], date.fromisoformat(manifest["end_date"]), wh_url, truth_dir,
                work,
            )  # fmt: skip
            for module in modules:
                print(f"--- scale {scale:g}: {module.__name__}", flush=True)
                for r in module.evaluate(ctx):
                    rows.append(row(**{**r, "scale": scale}))
    print_table(rows)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # Keep the rows of the scales and modules not re-run this time.
    done = {(r["scale"], r["model"]) for r in rows}
    kept = [r for r in previous.get("rows", []) if (r["scale"], r["model"]) not in done]
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
                "seed": args.seed,
                "years": args.years,
                "end_date": args.end_date.isoformat(),
                "rows": sorted(kept + rows, key=lambda r: (r["scale"], r["model"], r["metric"])),
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
