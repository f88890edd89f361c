"""The gate's result model: one Outcome per expectation (or per suite that could not run),
gathered in a GateResult, built from what a GX checkpoint run returns."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

SUITE_ERROR = "suite_could_not_run"


@dataclass
class Outcome:
    suite: str
    table: str
    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    severity: str
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    exception: str | None = None
    quarantined_rows: int | None = None
    quarantine_cap: int | None = None
    data_docs: str | None = None
    partial_unexpected: list[Any] = field(default_factory=list)
    # internal: GX's SQL for the failing rows (row-level expectations), and whether they may be quarantined
    unexpected_index_query: str | None = field(default=None, repr=False)
    quarantine: bool = field(default=False, repr=False)

    def describe(self) -> str:
        col = f"({self.column})" if self.column else ""
        if self.exception:
            what = f"error: {self.exception[:160]}"
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            sample = f" e.g. {self.partial_unexpected[:3]}" if self.partial_unexpected else ""
            what = f"{self.unexpected_count} unexpected of {self.element_count}{pct}{sample}"
        else:
            what = f"observed {json.dumps(self.observed_value, default=str)[:160]}"
        limits = {k: v for k, v in self.kwargs.items() if k not in ("column", "batch_id")}
        return f"{self.suite}: {self.expectation}{col} {json.dumps(limits, default=str)[:120]} -> {what}"


@dataclass
class GateResult:
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    data_docs: str | None = None
    suite_docs: dict[str, str] = field(default_factory=dict)
    as_of: datetime | None = None
    validate_since: datetime | None = None
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def quarantined_rows(self) -> int:
        return sum(o.quarantined_rows or 0 for o in self.outcomes)

    def failing_suite_docs(self) -> str | None:
        """The Data Docs page of the first suite with a critical failure (else the site index)."""
        for o in self.critical_failures:
            if o.suite in self.suite_docs:
                return self.suite_docs[o.suite]
        return self.data_docs

    def find(self, suite: str, expectation: str | None = None, column: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.suite == suite
            and (expectation is None or o.expectation == expectation)
            and (column is None or o.column == column)
        ]

    def to_dict(self) -> dict[str, Any]:
        def brief(o: Outcome) -> dict[str, Any]:
            d = asdict(o)
            for k in ("unexpected_index_query", "quarantine", "partial_unexpected"):
                d.pop(k, None)
            return d

        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "suites": len({o.suite for o in self.outcomes}),
            "expectations": len(self.outcomes),
            "critical_failures": [brief(o) for o in self.critical_failures],
            "warnings": [brief(o) for o in self.warnings],
            "quarantined_rows": self.quarantined_rows,
            "data_docs": self.data_docs,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "validate_since": self.validate_since.isoformat() if self.validate_since else None,
            "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
        }


def exception_message(info: Any) -> str | None:
    if not info:
        return None
    items = [info] if "raised_exception" in info else list(info.values())
    for item in items:
        if isinstance(item, dict) and item.get("raised_exception", True) and item.get("exception_message"):
            return str(item["exception_message"]).strip().splitlines()[0][:500]
    return None


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def outcomes_from_run(run, table_of: dict[str, str], suite_docs: dict[str, str]) -> list[Outcome]:
    """One Outcome per expectation of every suite the checkpoint ran."""
    outcomes: list[Outcome] = []
    for vres in run.run_results.values():
        suite_name = vres.suite_name
        for r in vres.results:
            cfg = r.expectation_config
            kwargs = jsonable({k: v for k, v in cfg.kwargs.items() if k != "batch_id"})
            res = r.result or {}
            meta = cfg.meta or {}
            exc = exception_message(r.exception_info)
            outcomes.append(
                Outcome(
                    suite=suite_name,
                    table=table_of.get(suite_name, ""),
                    expectation=cfg.type,
                    column=kwargs.get("column") or kwargs.get("column_A"),
                    kwargs=kwargs,
                    severity=meta.get("severity", "critical"),
                    success=bool(r.success) and not exc,
                    observed_value=jsonable(res.get("observed_value")),
                    unexpected_count=res.get("unexpected_count"),
                    unexpected_percent=res.get("unexpected_percent"),
                    element_count=res.get("element_count"),
                    exception=exc,
                    data_docs=suite_docs.get(suite_name),
                    partial_unexpected=jsonable(res.get("partial_unexpected_list") or []),
                    unexpected_index_query=res.get("unexpected_index_query"),
                    quarantine=bool(meta.get("quarantine", False)),
                )
            )
    return outcomes
