#!/usr/bin/env python3
"""How long each static check of the strict CI (`make lint`, run first by `make test`) takes.

    scripts/run.sh python benchmarks/lint_time.py

Runs the Makefile's lint steps one by one (the commands are read from the Makefile's `lint`
recipe, so the figures follow it), prints a table and writes benchmarks/results/lint_time.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "lint_time.json"

from machine import machine  # noqa: E402


def lint_steps() -> list[str]:
    """The commands of the Makefile's `lint` recipe, without the `@$(RUN) ` prefix."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "no lint target in the Makefile"
    return [line.strip().removeprefix("@").removeprefix("$(RUN)").strip() for line in recipe.group(1).splitlines()]


def main() -> int:
    where = machine()
    rows = []
    for cmd in lint_steps():
        start = time.perf_counter()
        proc = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True)
        rows.append({"step": cmd, "seconds": round(time.perf_counter() - start, 2), "exit_code": proc.returncode})
    print(f"\n{'lint step':<90} {'s':>7} rc")
    for r in rows:
        print(f"{r['step'][:90]:<90} {r['seconds']:>7.2f} {r['exit_code']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"measured_at": datetime.now(UTC).isoformat(), "machine": where, "results": rows}, indent=2)
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
