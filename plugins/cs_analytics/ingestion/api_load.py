"""Load JSON records from an API source into a raw table, incrementally and idempotently.

Raw API tables keep the latest version of each record (upsert on the natural key),
the untouched payload as JSONB (a property added at the source is never lost) and
lineage columns. A version replaces the stored one only if it is newer, or equally
new with different content, so re-running any interval leaves the table identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import (
    BatchContext,
    LoadResult,
    QuarantinedRow,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    is_in_the_future,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.schema import ddl_transaction, ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows, create_schema_if_missing

log = logging.getLogger(__name__)

API_COLUMNS = (
    "id",
    "source_updated_at",
    "source_created_at",
    "archived",
    "payload",
    "_record_hash",
    "_batch_id",
    "_loaded_at",
    "_source",
)


def api_raw_ddl(schema: str, table: str) -> str:
    return f"""
    {create_schema_if_missing(schema)}
    create table if not exists {schema}.{table} (
        id                 text primary key,
        source_updated_at  timestamptz not null,
        source_created_at  timestamptz,
        archived           boolean not null default false,
        payload            jsonb not null,
        _record_hash       text not null,
        _batch_id          text not null,
        _loaded_at         timestamptz not null,
        _source            text not null
    );
    create index if not exists {table}_source_updated_at on {schema}.{table} (source_updated_at);
    """


@dataclass(frozen=True)
class ApiRecord:
    id: str
    updated_at: datetime
    created_at: datetime | None
    archived: bool
    payload: dict[str, Any]


# A fetcher yields raw JSON objects modified in [since, until); since=None means everything.
Fetcher = Callable[[datetime | None, datetime | None], Iterable[dict[str, Any]]]
# A parser turns one raw object into a record, or raises ValueError with the reason.
Parser = Callable[[dict[str, Any]], ApiRecord]


def canonical_json(payload: dict[str, Any]) -> str:
    """Sorted keys, so the same record always hashes the same; NaN/Infinity rejected (not JSON)."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def load_api_object(
    warehouse: Warehouse,
    ctx: BatchContext,
    raw_table: str,
    endpoint: str,
    fetch: Fetcher,
    parse: Parser,
    settings: IngestSettings | None = None,
    check_schema: Callable[[dict[str, Any]], None] | None = None,
    detail: dict[str, Any] | None = None,
) -> LoadResult:
    """check_schema sees the first record served and raises MissingRequiredColumn on a schema change.
    `detail` (filled by the fetcher as it goes, e.g. the source's total) is stored with the batch."""
    settings = settings or IngestSettings.from_env()
    schema, table = raw_table.split(".")
    ensure_schema(warehouse)
    with ddl_transaction(warehouse) as conn:
        conn.execute(api_raw_ddl(schema, table))
    result = LoadResult(source=ctx.source, object=ctx.object, batch_id=ctx.batch_id)
    if detail is not None:
        result.detail = detail  # the same dict: what the fetcher adds while paging is recorded

    with warehouse.transaction() as conn:
        watermark = get_watermark(conn, ctx.source, ctx.object)
        since = _window_start(watermark, ctx.interval_start, settings)
        result.window_start, result.window_end = since, ctx.interval_end
        log.info("%s: window [%s, %s) (watermark %s)", raw_table, since or "beginning", ctx.interval_end, watermark)

        quarantined: list[QuarantinedRow] = []
        max_updated: list[datetime] = []

        def reject(obj: Any, reason: str) -> None:
            rid = obj.get("id") if isinstance(obj, dict) else None
            location = f"{endpoint}#{rid if rid is not None else f'record-{result.rows_read}'}"
            quarantined.append(QuarantinedRow(location, reason, json.dumps(obj, default=str)[:20000]))

        def rows() -> Iterator[tuple]:
            for obj in fetch(since, ctx.interval_end):
                result.rows_read += 1
                if check_schema and result.rows_read == 1 and isinstance(obj, dict):
                    check_schema(obj)
                try:
                    rec = parse(obj)
                except (ValueError, KeyError, TypeError) as exc:
                    reject(obj, f"invalid record: {exc}")
                    continue
                if is_in_the_future(rec.updated_at, ctx.loaded_at):
                    reject(
                        obj,
                        f"modified in the future: {rec.updated_at.isoformat()} (loaded at {ctx.loaded_at:%Y-%m-%d %H:%M} UTC)",
                    )
                    continue
                try:
                    # Strict JSON: a NaN or Infinity the source let through would abort the whole COPY.
                    payload = canonical_json(rec.payload)
                except ValueError as exc:
                    reject(obj, f"not valid JSON (NaN or Infinity in the payload): {exc}")
                    continue
                if not max_updated or rec.updated_at > max_updated[0]:
                    max_updated[:] = [rec.updated_at]
                yield (
                    rec.id,
                    rec.updated_at,
                    rec.created_at,
                    rec.archived,
                    payload,
                    hashlib.md5(payload.encode()).hexdigest(),
                    ctx.batch_id,
                    ctx.loaded_at,
                    endpoint,
                )

        with conn.cursor() as cur:
            cur.execute(f"create temp table _api_in (like {raw_table}) on commit drop")
            copy_rows(cur, "_api_in", API_COLUMNS, rows())
            # DISTINCT ON: a record served twice (changed while we paged) keeps its latest version.
            cur.execute(
                f"""
                with ins as (
                    insert into {raw_table} as t ({", ".join(API_COLUMNS)})
                    select distinct on (id) {", ".join(API_COLUMNS)} from _api_in
                    order by id, source_updated_at desc, _record_hash
                    on conflict (id) do update set
                        source_updated_at = excluded.source_updated_at,
                        source_created_at = excluded.source_created_at,
                        archived = excluded.archived, payload = excluded.payload,
                        _record_hash = excluded._record_hash, _batch_id = excluded._batch_id,
                        _loaded_at = excluded._loaded_at, _source = excluded._source
                    where t.source_updated_at < excluded.source_updated_at
                       or (t.source_updated_at = excluded.source_updated_at
                           and t._record_hash <> excluded._record_hash)
                    returning (xmax = 0) as inserted
                )
                select count(*) filter (where inserted), count(*) filter (where not inserted),
                       (select count(distinct id) from _api_in)
                from ins
                """
            )
            inserted, updated, distinct_ids = cur.fetchone()
            # One id served in versions of the same modification time but different content: the
            # source contradicts itself. One version is kept (as above); the others are quarantined,
            # keyed by their content, so none vanishes unseen.
            cur.execute(
                """
                with chosen as (
                    select distinct on (id) id, source_updated_at, _record_hash from _api_in
                    order by id, source_updated_at desc, _record_hash
                )
                select distinct on (a.id, a._record_hash) a.id, a._record_hash, a.source_updated_at, a.payload::text
                from _api_in a join chosen c using (id)
                where a.source_updated_at = c.source_updated_at and a._record_hash <> c._record_hash
                """
            )
            for rid, rhash, ts, payload in cur.fetchall():
                quarantined.append(
                    QuarantinedRow(
                        f"{endpoint}#{rid}@{rhash[:12]}",
                        f"conflicting versions of {rid}: same modification time ({ts.isoformat()}) as the version "
                        f"loaded, different content",
                        payload[:20000],
                    )
                )
        result.rows_inserted, result.rows_updated = inserted, updated
        result.rows_unchanged = distinct_ids - inserted - updated
        result.rows_quarantined = write_quarantine(conn, ctx, quarantined)
        # Records quarantined by an earlier run that now loaded (fixed at the source) are resolved.
        resolve_quarantine(conn, ctx, "select %s || '#' || id from _api_in", (endpoint,))
        result.watermark = max_updated[0] if max_updated else watermark
        advance_watermark(conn, ctx.source, ctx.object, max_updated[0] if max_updated else None, ctx.batch_id)
        record_batch(conn, ctx, result)

    log.info("%s", result.summary())
    enforce_quarantine_rate(result, settings.quarantine_max_rate)
    return result


def _window_start(
    watermark: datetime | None, interval_start: datetime | None, settings: IngestSettings
) -> datetime | None:
    """From the earlier of the watermark and the interval start, minus the overlap.

    No watermark means a fresh warehouse: load the whole history. Starting no later than
    the interval start lets a re-run of any interval re-read that interval.
    """
    if watermark is None:
        return None
    start = min(watermark, interval_start) if interval_start else watermark
    return start - settings.api_overlap
