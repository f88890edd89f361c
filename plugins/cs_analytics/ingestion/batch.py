"""What every load shares: the batch (lineage), watermarks, quarantine and the load report.

A load runs in one transaction: rows, quarantine entries, the batch record and the
watermark commit together or not at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from cs_analytics.warehouse import copy_rows

log = logging.getLogger(__name__)


# A source record modified later than this past the load's own clock is wrong (its clock or the record):
# quarantined, rather than deferred to an interval that will not come for years.
FUTURE_TOLERANCE = timedelta(days=1)


def is_in_the_future(ts: datetime, loaded_at: datetime) -> bool:
    return ts > loaded_at + FUTURE_TOLERANCE


class QuarantineRateExceeded(RuntimeError):
    """More than the allowed share of a batch could not be loaded. Good rows are committed."""


class SourceDataMissing(RuntimeError):
    """The source says it holds data the load did not get (its own totals disagree): nothing is committed."""


class MissingRequiredColumn(ValueError):
    """A source no longer delivers a column the pipeline needs."""

    def __init__(self, source: str, obj: str, column: str, where: str = ""):
        self.source, self.object, self.column = source, obj, column
        super().__init__(
            f"{source}.{obj}: required column '{column}' is missing from the source{f' ({where})' if where else ''}"
        )


@dataclass
class BatchContext:
    """Identifies one load of one object; stamped on every row as lineage."""

    source: str
    object: str
    dag_id: str = "manual"
    run_id: str = "manual"
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def batch_id(self) -> str:
        # Stable across retries of the same run, distinct between runs.
        return f"{self.source}.{self.object}:{self.dag_id}:{self.run_id}"


@dataclass
class QuarantinedRow:
    location: str  # file:line, endpoint#id, table key...
    reason: str
    raw_record: str | None


@dataclass
class LoadResult:
    source: str
    object: str
    batch_id: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    watermark: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def summary(self) -> str:
        return (
            f"{self.source}.{self.object}: window [{self.window_start or 'beginning'}, {self.window_end}) "
            f"read {self.rows_read}, inserted {self.rows_inserted}, updated {self.rows_updated}, "
            f"unchanged {self.rows_unchanged}, quarantined {self.rows_quarantined}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("window_start", "window_end", "watermark"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def get_watermark(conn: psycopg.Connection, source: str, obj: str, lock: bool = True) -> datetime | None:
    """Current watermark; with lock=True the row stays locked until commit so two runs can't interleave."""
    conn.execute(
        "insert into meta.watermarks (source, object, watermark, batch_id) values (%s, %s, null, 'init') "
        "on conflict do nothing",
        (source, obj),
    )
    row = conn.execute(
        "select watermark from meta.watermarks where source = %s and object = %s" + (" for update" if lock else ""),
        (source, obj),
    ).fetchone()
    return row[0] if row else None


def advance_watermark(conn: psycopg.Connection, source: str, obj: str, value: datetime | None, batch_id: str) -> None:
    """Move the watermark forward (never back) in the load's transaction."""
    if value is None:
        return
    conn.execute(
        "update meta.watermarks set watermark = greatest(coalesce(watermark, %s), %s), batch_id = %s, "
        "updated_at = now() where source = %s and object = %s",
        (value, value, batch_id, source, obj),
    )


def write_quarantine(conn: psycopg.Connection, ctx: BatchContext, rows: list[QuarantinedRow]) -> int:
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.execute(
            "create temp table if not exists _quarantine_in "
            "(location text, reason text, raw_record text) on commit drop"
        )
        cur.execute("truncate _quarantine_in")
        copy_rows(
            cur,
            "_quarantine_in",
            ("location", "reason", "raw_record"),
            ((r.location, r.reason, r.raw_record) for r in rows),
        )
        cur.execute(
            """
            insert into meta.quarantine (source, object, location, reason, raw_record, batch_id)
            select distinct on (location) %s, %s, location, reason, raw_record, %s from _quarantine_in
            order by location
            on conflict (source, object, location) do update
               set reason = excluded.reason, raw_record = excluded.raw_record,
                   batch_id = excluded.batch_id, last_seen_at = now(), resolved_at = null, resolved_by = null
            """,
            (ctx.source, ctx.object, ctx.batch_id),
        )
    log.warning("%s.%s: %d row(s) quarantined in batch %s", ctx.source, ctx.object, len(rows), ctx.batch_id)
    return len(rows)


def resolve_quarantine(conn: psycopg.Connection, ctx: BatchContext, locations_sql: str, params: tuple) -> int:
    """Mark open entries resolved: `locations_sql` selects their locations (the rows just loaded)."""
    cur = conn.execute(
        f"update meta.quarantine set resolved_at = now(), resolved_by = %s "
        f"where source = %s and object = %s and resolved_at is null and location in ({locations_sql})",
        (ctx.batch_id, ctx.source, ctx.object, *params),
    )
    return cur.rowcount


def record_batch(
    conn: psycopg.Connection, ctx: BatchContext, result: LoadResult, attempt: dict[str, Any] | None = None
) -> None:
    """One row per batch; a retry updates the totals and appends its own counts (`attempt`, by
    default the result's) to `detail.attempts`, so what an earlier attempt saw is kept."""
    attempt = attempt or {
        "started_at": ctx.loaded_at.isoformat(),
        **{k: getattr(result, k) for k in ("rows_read", "rows_inserted", "rows_updated", "rows_quarantined")},
    }
    detail = {**result.detail, "attempts": [attempt]}
    conn.execute(
        """
        insert into meta.load_batches (batch_id, source, object, dag_id, run_id, interval_start, interval_end,
            window_start, window_end, rows_read, rows_inserted, rows_updated, rows_unchanged, rows_quarantined,
            started_at, finished_at, detail)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), %s)
        on conflict (batch_id) do update set
            window_start = excluded.window_start, window_end = excluded.window_end,
            rows_read = excluded.rows_read, rows_inserted = excluded.rows_inserted,
            rows_updated = excluded.rows_updated, rows_unchanged = excluded.rows_unchanged,
            rows_quarantined = excluded.rows_quarantined, finished_at = now(),
            detail = excluded.detail || jsonb_build_object('attempts',
                coalesce(meta.load_batches.detail->'attempts', '[]'::jsonb) || (excluded.detail->'attempts'))
        """,
        (
            ctx.batch_id,
            ctx.source,
            ctx.object,
            ctx.dag_id,
            ctx.run_id,
            ctx.interval_start,
            ctx.interval_end,
            result.window_start,
            result.window_end,
            result.rows_read,
            result.rows_inserted,
            result.rows_updated,
            result.rows_unchanged,
            result.rows_quarantined,
            ctx.loaded_at,
            json.dumps(detail, default=str),
        ),
    )


def reconcile(
    warehouse, ctx: BatchContext, scope: str, source_count: int, loaded: int, quarantined: int, at_least: bool = False
) -> None:
    """Store what the source counts against what the load got, and raise SourceDataMissing when they
    disagree (the caller's transaction then rolls back). `at_least`: records may join the source's
    count while it is read, never leave it, so getting more is fine and getting fewer is not."""
    got = loaded + quarantined
    matches = got >= source_count if at_least else got == source_count
    warehouse.execute(
        """
        insert into meta.source_reconciliation (batch_id, source, object, scope, source_count, loaded, quarantined,
            rule, matches) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        on conflict (batch_id, scope) do update set source_count = excluded.source_count, loaded = excluded.loaded,
            quarantined = excluded.quarantined, rule = excluded.rule, matches = excluded.matches, checked_at = now()
        """,
        (ctx.batch_id, ctx.source, ctx.object, scope, source_count, loaded, quarantined,
         "at_least" if at_least else "equal", matches),
    )  # fmt: skip
    if not matches:
        raise SourceDataMissing(
            f"{ctx.source}.{ctx.object} ({scope}): the source counts {source_count} but the load got {got} "
            f"({loaded} loaded + {quarantined} quarantined). Nothing of it was committed; "
            f"see meta.source_reconciliation where batch_id = '{ctx.batch_id}'."
        )


def enforce_quarantine_rate(result: LoadResult, max_rate: float) -> None:
    """Called after commit: the good rows are in; the task still fails loudly."""
    if result.rows_read and result.quarantine_rate > max_rate:
        raise QuarantineRateExceeded(
            f"{result.source}.{result.object}: {result.rows_quarantined} of {result.rows_read} rows "
            f"({result.quarantine_rate:.1%}) went to quarantine in batch {result.batch_id}, above the "
            f"{max_rate:.1%} limit (QUARANTINE_MAX_RATE). The valid rows were loaded; see "
            f"meta.quarantine where batch_id = '{result.batch_id}' for the reasons."
        )
