"""Where the reliability tests leave their measurements for scripts/reliability_report.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "build" / "reliability"


def record_fault(name: str, **measured: Any) -> None:
    """One JSON file per fault: what was injected and what the run ended with, written before the asserts."""
    (RESULTS / "faults").mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults" / f"{name}.json").write_text(json.dumps({"fault": name, **measured}, indent=1, default=str))


def record_input(case, outcome) -> None:
    """What one corpus input became (tests/reliability/corpus/manifest.yaml)."""
    (RESULTS / "inputs").mkdir(parents=True, exist_ok=True)
    name = case.input.replace("/", "__")
    (RESULTS / "inputs" / f"{name}.json").write_text(
        json.dumps(
            {
                "source": case.source, "input": case.input, "what": case.what, "expected": case.expect,
                "verdict": outcome.verdict, "loaded": outcome.loaded, "quarantined": outcome.quarantined,
                "rows_read": outcome.rows_read, "dropped": case.dropped, "gap": case.gap,
                "companions_expected": outcome.companions_expected, "companions_loaded": outcome.companions_loaded,
                "error": outcome.error,
            },
            indent=1,
        )
    )  # fmt: skip
