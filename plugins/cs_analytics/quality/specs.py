"""Suite specifications: the YAML files in `expectations/suites/`, parsed and checked.

One file per suite:

    suite: raw_cti__calls                 # name of the GX suite (and of its table dq.<suite>)
    table: raw_cti.calls                  # the relation the suite is about (history, quarantine)
    scope: new_rows                       # new_rows | whole_table (see expectations/README.md)
    key: [call_id]                        # row key: quarantine entries and GX unexpected indexes
    columns: |                            # optional select list over `t` (default: t.*)
      t.id, t.payload->>'email' as email
    sql: |                                # or: a whole SELECT (metric suites: volume, freshness)
      select ...
    on_error: critical                    # severity when dq.<suite> cannot be built (relation missing)
    quarantine: true                      # copy rows failing critical row-level expectations
    expectations:
      - type: expect_column_values_to_not_be_null
        kwargs: {column: call_id}
        severity: critical                # critical stops the line; warning is reported
        quarantine: false                 # optional, per expectation

Values of the form `{$PARAMETER: now}` are GX expectation parameters, filled at run
time (`now`: the validation instant plus a small clock tolerance, UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from cs_analytics.config import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_DIR = EXPECTATIONS_DIR / "suites"
SEVERITIES = ("critical", "warning")
SCOPES = ("new_rows", "whole_table")


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: dict[str, Any]
    severity: str
    quarantine: bool = True
    description: str | None = None


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    table: str
    expectations: tuple[ExpectationSpec, ...]
    scope: str = "whole_table"
    key: tuple[str, ...] = ()
    columns: str | None = None
    sql: str | None = None
    on_error: str = "critical"
    quarantine: bool = True
    description: str = ""
    loaded_at_column: str = "_loaded_at"
    batch_column: str = "_batch_id"
    source_file: str = field(default="", compare=False)

    @property
    def schema(self) -> str:
        return self.table.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".")[1]

    def reading(self, schemas: dict[str, str]) -> SuiteSpec:
        """The suite validating other schemas: `{"marts": "marts_build"}` audits the hidden build of
        the marts before they are published (suites name the published schema)."""
        if not schemas:
            return self

        def swap(text: str | None) -> str | None:
            if not text:
                return text
            return re.sub(
                r"\b(" + "|".join(map(re.escape, schemas)) + r")\.", lambda m: schemas[m.group(1)] + ".", text
            )

        table = f"{schemas.get(self.schema, self.schema)}.{self.table_name}"
        return replace(self, table=table, sql=swap(self.sql), columns=swap(self.columns))


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {msg}")


def parse_suite(doc: dict[str, Any], where: str = "<suite>") -> SuiteSpec:
    _check(isinstance(doc, dict), where, "a suite is a mapping")
    for req in ("suite", "table", "expectations"):
        _check(req in doc, where, f"missing '{req}'")
    name = str(doc["suite"])
    _check(name.replace("_", "").isalnum() and name.islower(), where, f"suite name {name!r}: lower-case, digits, _")
    _check(str(doc["table"]).count(".") == 1, where, "table must be schema.table")
    scope = doc.get("scope", "whole_table")
    _check(scope in SCOPES, where, f"scope {scope!r} not one of {SCOPES}")
    on_error = doc.get("on_error", "critical")
    _check(on_error in SEVERITIES, where, f"on_error {on_error!r} not one of {SEVERITIES}")
    _check(not (doc.get("sql") and doc.get("columns")), where, "give either 'sql' or 'columns', not both")
    _check(not (doc.get("sql") and scope == "new_rows"), where, "a 'sql' suite has whole_table scope")
    key = doc.get("key") or []
    _check(isinstance(key, list) and len(key) > 0, where, "key: a non-empty list of columns")
    exps = []
    for i, e in enumerate(doc.get("expectations") or []):
        w = f"{where} expectation #{i + 1}"
        _check(isinstance(e, dict) and "type" in e, w, "needs a 'type'")
        severity = e.get("severity", "critical")
        _check(severity in SEVERITIES, w, f"severity {severity!r} not one of {SEVERITIES}")
        exps.append(
            ExpectationSpec(
                type=str(e["type"]),
                kwargs=dict(e.get("kwargs") or {}),
                severity=severity,
                quarantine=bool(e.get("quarantine", True)),
                description=e.get("description"),
            )
        )
    _check(len(exps) > 0, where, "no expectations")
    return SuiteSpec(
        name=name,
        table=str(doc["table"]),
        expectations=tuple(exps),
        scope=scope,
        key=tuple(str(k) for k in key),
        columns=doc.get("columns"),
        sql=doc.get("sql"),
        on_error=on_error,
        quarantine=bool(doc.get("quarantine", True)),
        description=str(doc.get("description", "")).strip(),
        loaded_at_column=str(doc.get("loaded_at_column", "_loaded_at")),
        batch_column=str(doc.get("batch_column", "_batch_id")),
        source_file=where,
    )


def load_suite_specs(directory: Path | None = None, only: list[str] | None = None) -> list[SuiteSpec]:
    """Every suite in `directory` (default expectations/suites/), optionally only the named ones."""
    directory = directory or SUITES_DIR
    specs = [parse_suite(yaml.safe_load(p.read_text()), p.name) for p in sorted(directory.glob("*.yml"))]
    names = [s.name for s in specs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"suite names used twice: {sorted(dupes)}")
    if only is not None:
        unknown = set(only) - set(names)
        if unknown:
            raise ValueError(f"unknown suites: {sorted(unknown)}")
        specs = [s for s in specs if s.name in only]
    return specs
