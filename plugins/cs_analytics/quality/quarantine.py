"""Row quarantine: the rows behind each failed critical row-level expectation, copied to
`meta.dq_quarantine` (never deleted from their table, never dropped silently)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from psycopg import sql

from cs_analytics.quality.results import Outcome
from cs_analytics.quality.specs import SuiteSpec
from cs_analytics.quality.sql import DQ_SCHEMA, key_expression
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


_PY_DATETIME = re.compile(
    r"datetime\.datetime\((\d+), (\d+), (\d+)(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?"
    r"(?:, tzinfo=(?:[\w.]+(?:\([^()]*\))?))?\)"
)


def _sql_datetimes(query: str) -> str:
    """GX renders datetime parameters (the `now` bound) as Python reprs in its
    unexpected_index_query; make them SQL literals (they are UTC: the gate passes UTC)."""

    def literal(m: re.Match) -> str:
        y, mo, d, h, mi, sec, us = (int(x) if x else 0 for x in m.groups())
        return f"'{datetime(y, mo, d, h, mi, sec, us, tzinfo=UTC).isoformat()}'::timestamptz"

    return _PY_DATETIME.sub(literal, query)


def quarantine_failed_rows(
    wh: Warehouse, run_id: str, specs: dict[str, SuiteSpec], outcomes: list[Outcome], cap: int
) -> None:
    """Copy the rows behind each failed critical row-level expectation to meta.dq_quarantine:
    the source row as it stands in its table (so a JSON payload comes whole), found by key
    from GX's own query for the unexpected rows, at most `cap` rows per expectation."""
    with wh.transaction() as conn:
        # a run audits in stages (sources, then marts): each replaces only its own suites' rows
        conn.execute("delete from meta.dq_quarantine where run_id = %s and suite = any(%s)", (run_id, sorted(specs)))
        for o in outcomes:
            spec = specs.get(o.suite)
            if spec is None or o.success or o.severity != "critical" or not o.quarantine or o.exception:
                continue
            query = (
                (o.unexpected_index_query or "").strip().rstrip(";")
                if isinstance(o.unexpected_index_query, str)
                else ""
            )
            if "_dq_key" not in query:
                continue  # table-level expectation: no rows to point at
            query = _sql_datetimes(query)
            keys = sql.SQL("select distinct u._dq_key from ({query}) u limit {cap}").format(
                query=sql.SQL(query), cap=sql.Literal(cap)
            )
            if spec.sql:  # a metric suite: its rows exist only in dq.<suite>
                source = sql.SQL("{table} t join ({keys}) k on t._dq_key = k._dq_key").format(
                    table=sql.Identifier(DQ_SCHEMA, spec.name), keys=keys
                )
                row = sql.SQL("to_jsonb(t) - '_dq_key'")
            else:
                source = sql.SQL("{table} t join ({keys}) k on {key} = k._dq_key").format(
                    table=sql.Identifier(spec.schema, spec.table_name), keys=keys, key=key_expression(spec, "t")
                )
                row = sql.SQL("to_jsonb(t)")
            stmt = sql.SQL(
                """
                insert into meta.dq_quarantine (run_id, suite, expectation, kwargs, table_name, row_key, row_data)
                select {run_id}, {suite}, {exp}, {kwargs}::jsonb, {table}, k._dq_key, {row}
                from {source}
                limit {cap}
                """
            ).format(
                run_id=sql.Literal(run_id),
                suite=sql.Literal(o.suite),
                exp=sql.Literal(o.expectation),
                kwargs=sql.Literal(json.dumps(o.kwargs, sort_keys=True, default=str)),
                table=sql.Literal(o.table),
                row=row,
                source=source,
                cap=sql.Literal(cap),
            )
            try:
                with conn.transaction():
                    o.quarantined_rows = conn.execute(stmt).rowcount
                    o.quarantine_cap = cap
            except Exception as exc:  # the gate result stands; the log says what could not be copied
                log.error("DQ quarantine of %s %s failed: %s", o.suite, o.expectation, exc)
            if o.quarantined_rows:
                log.warning(
                    "DQ quarantine: %d row(s) of %s copied for %s(%s)%s",
                    o.quarantined_rows,
                    o.table,
                    o.expectation,
                    o.column or "",
                    f" (capped at {cap})" if o.quarantined_rows >= cap else "",
                )
