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
