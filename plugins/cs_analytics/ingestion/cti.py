"""CTI call detail records: daily `;`-separated CSV files dropped in a landing folder,
loaded into `raw_cti.calls`. Parsing a file is `cdr_parser.CdrFile`'s job; this is the I/O.

- A file is identified by the SHA-256 of its content: a file delivered twice (same
  content, any name) is recorded as a duplicate delivery and not loaded again.
- Each file replaces its own day in `raw_cti.calls` (partition `_file_date`), so a
  corrected re-delivery supersedes the first one and a re-run never duplicates.
- Lines the parser cannot load (not UTF-8, wrong field count, unparsable number or
  date, missing call id, duplicate call id) go to `meta.quarantine` with the reason,
  the raw line and `file:line`. The rest of the file loads.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import (
    BatchContext,
    LoadResult,
    MissingRequiredColumn,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.ingestion.cdr_parser import OBJECT, PARIS, RAW_COLUMNS, SOURCE, CdrFile, file_date_of
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

RAW_TABLE = "raw_cti.calls"
RAW_DDL = f"""
create schema if not exists raw_cti;
create table if not exists {RAW_TABLE} (
    call_id           text not null,
    started_at        timestamptz not null,
    ended_at          timestamptz,
    local_start_time  text not null,      -- as delivered, Europe/Paris wall time
    local_end_time    text,
    caller_number     text,
    called_number     text,
    direction         text,
    queue             text,
    wait_seconds      integer,
    talk_seconds      integer,
    outcome           text,
    agent_id          text,
    agent_name        text,
    _extra            jsonb,               -- columns the file had beyond the known layout
    _file_name        text not null,
    _file_date        date not null,
    _line_number      integer not null,
    _file_sha256      text not null,
    _batch_id         text not null,
    _loaded_at        timestamptz not null,
    primary key (_file_date, call_id)
);
create index if not exists calls_started_at on {RAW_TABLE} (started_at);
"""


@dataclass
class CtiLoadResult(LoadResult):
    files_loaded: list[str] = field(default_factory=list)
    duplicate_deliveries: list[str] = field(default_factory=list)
    failed_files: dict[str, str] = field(default_factory=dict)


def pending_files(landing: Path, until: date | None) -> list[Path]:
    """CDR files in the landing folder for days before `until` (all if None), oldest first."""
    files = []
    for p in sorted(landing.glob("*.csv")):
        d = file_date_of(p.name)
        if d is None or until is None or d < until:
            files.append(p)
    return sorted(files, key=lambda p: (file_date_of(p.name) or date.min, p.name))


@dataclass
class _FileOutcome:
    name: str
    file_date: date
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None


def _load_file(conn: psycopg.Connection, ctx: BatchContext, path: Path, sha: str, loaded_at: str) -> _FileOutcome:
    """One file in one transaction: replace its day, quarantine its bad lines, record it."""
    content = path.read_bytes()
    try:
        parsed = CdrFile(path.name, content, ctx.batch_id, loaded_at, sha)
    except (MissingRequiredColumn, ValueError) as exc:
        log.error("%s", exc)
        return _FileOutcome(path.name, file_date_of(path.name) or date.min, error=str(exc))
    with conn.transaction():
        # The file replaces its day: a corrected re-delivery supersedes the previous one.
        conn.execute(f"delete from {RAW_TABLE} where _file_date = %s", (parsed.file_date,))
        with conn.cursor() as cur, cur.copy(f"copy {RAW_TABLE} ({', '.join(RAW_COLUMNS)}) from stdin (null '')") as cp:
            # Small chunks: the server ingests one while the next is parsed.
            buf: list[str] = []
            for line in parsed.copy_lines():
                buf.append(line)
                if len(buf) == 2000:
                    cp.write("".join(buf))
                    buf.clear()
            if buf:
                cp.write("".join(buf))
        # Entries of an earlier delivery of this day are superseded by this file.
        resolve_quarantine(
            conn,
            ctx,
            "select location from meta.quarantine where location like %s and location not like %s",
            (f"cdr_{parsed.file_date:%Y%m%d}%", f"{path.name}:%"),
        )
        write_quarantine(conn, ctx, parsed.quarantined)
        conn.execute(
            "insert into meta.cti_files (sha256, file_name, file_date, size_bytes, encoding_errors, rows_loaded, "
            "rows_quarantined, batch_id) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                sha,
                path.name,
                parsed.file_date,
                len(content),
                parsed.encoding_errors,
                parsed.rows_loaded,
                len(parsed.quarantined),
                ctx.batch_id,
            ),
        )
        day_end = datetime.combine(parsed.file_date + timedelta(days=1), datetime.min.time(), PARIS)
        get_watermark(conn, SOURCE, OBJECT)  # row lock held to commit: commits of parallel files queue here
        advance_watermark(conn, SOURCE, OBJECT, day_end, ctx.batch_id)
    return _FileOutcome(path.name, parsed.file_date, parsed.rows_read, parsed.rows_loaded, len(parsed.quarantined))


def load_landing_folder(
    warehouse: Warehouse, landing: Path, ctx: BatchContext, settings: IngestSettings | None = None
) -> CtiLoadResult:
    """Load every new CDR file of days before the interval end; one transaction per file.

    Days load in parallel on `CTI_LOAD_WORKERS` connections: while one thread parses, the server
    ingests another thread's COPY on the other core (1M rows on 2 cores: 1 worker ~165k rows/s,
    2 to 4 workers ~230k). Files of one day load in order, on one connection per worker.
    """
    settings = settings or IngestSettings.from_env()
    ensure_schema(warehouse)
    warehouse.execute(RAW_DDL)
    until = ctx.interval_end.astimezone(PARIS).date() if ctx.interval_end else None
    result = CtiLoadResult(source=SOURCE, object=OBJECT, batch_id=ctx.batch_id)
    if not landing.is_dir():
        raise FileNotFoundError(f"CTI landing folder {landing} does not exist (connection 'cti_landing')")
    with warehouse.connect(autocommit=True) as conn:
        known = {row[0]: row[1] for row in conn.execute("select sha256, file_name from meta.cti_files")}
    loaded_at = ctx.loaded_at.isoformat()

    # Sort out re-deliveries first (by content), then group the new files by day.
    duplicates: list[tuple[str, str, str]] = []  # (file, sha, original name)
    by_day: dict[date, list[tuple[Path, str]]] = {}
    for path in pending_files(landing, until):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha in known:
            if known[sha] != path.name:
                duplicates.append((path.name, sha, known[sha]))
            continue
        known[sha] = path.name
        by_day.setdefault(file_date_of(path.name) or date.min, []).append((path, sha))

    days = iter([by_day[d] for d in sorted(by_day)])
    next_day = threading.Lock()

    def worker() -> list[_FileOutcome]:
        # One connection per worker for all its days: a new backend per file (fork,
        # authentication, cold caches) cost ~15 ms of CPU, a sixth of the whole load at 1M rows.
        done: list[_FileOutcome] = []
        with warehouse.connect(autocommit=True) as conn:
            while True:
                with next_day:
                    files = next(days, None)
                if files is None:
                    return done
                done += [_load_file(conn, ctx, path, sha, loaded_at) for path, sha in files]

    workers = max(1, min(settings.cti_load_workers, len(by_day)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        outcomes = sorted((o for f in futures for o in f.result()), key=lambda o: (o.file_date, o.name))
    for o in outcomes:
        if o.error:
            result.failed_files[o.name] = o.error
            continue
        result.files_loaded.append(o.name)
        result.rows_read += o.rows_read
        result.rows_inserted += o.rows_loaded
        result.rows_quarantined += o.rows_quarantined
    # A re-delivery is recorded against a file that is loaded (now or before), never a failed one.
    failed_now = set(result.failed_files)
    with warehouse.transaction() as conn:
        for name, sha, original in duplicates:
            if original not in failed_now:
                conn.execute(
                    "insert into meta.cti_duplicate_deliveries (file_name, sha256, original_name, batch_id) "
                    "values (%s, %s, %s, %s) on conflict (file_name) do nothing",
                    (name, sha, original, ctx.batch_id),
                )
                result.duplicate_deliveries.append(name)

    result.detail = {
        "files_loaded": len(result.files_loaded),
        "duplicate_deliveries": result.duplicate_deliveries,
        "failed_files": result.failed_files,
    }
    with warehouse.transaction() as conn:
        result.watermark = get_watermark(conn, SOURCE, OBJECT, lock=False)
        record_batch(conn, ctx, result)
    log.info(
        "cti: %d file(s) loaded (%d rows, %d quarantined), %d duplicate deliveries, %d failed",
        len(result.files_loaded),
        result.rows_inserted,
        result.rows_quarantined,
        len(result.duplicate_deliveries),
        len(result.failed_files),
    )
    if result.failed_files:
        listing = "; ".join(f"{k}: {v}" for k, v in result.failed_files.items())
        raise RuntimeError(
            f"cti: {len(result.failed_files)} file(s) could not be loaded ({listing}); "
            f"{len(result.files_loaded)} other file(s) were loaded"
        )
    enforce_quarantine_rate(result, settings.quarantine_max_rate)
    return result
