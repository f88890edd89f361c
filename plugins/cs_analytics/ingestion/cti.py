"""CTI call detail records: daily `;`-separated CSV files dropped in a landing folder,
loaded into `raw_cti.calls`. Parsing a file is `cdr_parser.CdrFile`'s job; this is the I/O.

- A delivery is a file name and its content (SHA-256); each is processed once.
- A file whose last line has no line terminator is still being written: it waits, and loads
  once unchanged for `CTI_PARTIAL_FILE_WAIT_MINUTES`, its cut line quarantined as truncated.
- Each file replaces its own day in `raw_cti.calls` (partition `_file_date`), so a corrected
  re-delivery supersedes the first one and a re-run never duplicates. A file whose content is
  what its day holds already is a duplicate delivery (recorded, not loaded); any other content,
  such as the original sent again to restore a day, replaces the day.
- A replacement is a correction, not a licence to erase: one that would leave its day with
  fewer rows than `CTI_REPLACEMENT_MAX_DROP` allows, and a file that cannot load at all
  (empty, no header, a required column missing), is held in `meta.cti_held_files` (reason,
  the day's rows before and the file's after, hash) and the day keeps what it has, until the
  file is accepted (`accept_files`: the command line below, or the DAG's `accept_files` param).
- Lines the parser cannot load go to `meta.quarantine` with the reason, the raw line and
  `file:line`. The rest of the file loads.
- The verdict belongs to the run (batch): a retry of a run counts the files its earlier attempts
  loaded or held, so it fails the same way; `meta.load_batches.detail.attempts` keeps each
  attempt's own counts. A later run reports files still held without failing on them again.

    python -m cs_analytics.ingestion.cti held                   # files held, with the reason and counts
    python -m cs_analytics.ingestion.cti accept FILE... [--by NAME]
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import logging
import sys
import threading
from collections.abc import Iterable
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
    QuarantineRateExceeded,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    reconcile,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.ingestion.cdr_parser import OBJECT, PARIS, RAW_COLUMNS, SOURCE, CdrFile, file_date_of
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, create_schema_if_missing

log = logging.getLogger(__name__)

RAW_TABLE = "raw_cti.calls"
RAW_DDL = f"""
{create_schema_if_missing("raw_cti")}
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
    _file_sha256      text not null,       -- meta.cti_files (file_name, sha256): encoding, counts
    _batch_id         text not null,
    _loaded_at        timestamptz not null,
    primary key (_file_date, call_id)
);
create index if not exists calls_started_at on {RAW_TABLE} (started_at);
"""
ACCEPT_HOWTO = (
    "accept a held file with `scripts/run.sh python -m cs_analytics.ingestion.cti accept FILE` "
    'or trigger ingest_cti with {"accept_files": ["FILE"]}, then re-run'
)


class CtiFilesHeld(RuntimeError):
    """A file was held (not loaded) in this run: its day keeps what it had. Other files loaded."""


@dataclass
class CtiLoadResult(LoadResult):
    files_loaded: list[str] = field(default_factory=list)
    duplicate_deliveries: list[str] = field(default_factory=list)
    held_files: dict[str, str] = field(default_factory=dict)  # held in this run (any attempt): name -> reason
    waiting_files: list[str] = field(default_factory=list)  # still being written: left for a later run


def pending_files(landing: Path, until: date | None) -> list[Path]:
    """CDR files in the landing folder for days before `until` (all if None), oldest first."""
    files = []
    for p in sorted(landing.glob("*.csv")):
        d = file_date_of(p.name)
        if d is None or until is None or d < until:
            files.append(p)
    return sorted(files, key=lambda p: (file_date_of(p.name) or date.min, p.name))


def cdr_file_ready(path: Path, now: datetime, partial_wait: timedelta) -> bool:
    """A file is ready when its last line is terminated, or when it has stayed unchanged for
    `partial_wait` (its writer has stopped: the loader quarantines the cut line)."""
    stat = path.stat()
    if stat.st_size:
        with path.open("rb") as f:
            f.seek(-1, 2)
            if f.read(1) == b"\n":
                return True
    return now.timestamp() - stat.st_mtime >= partial_wait.total_seconds()


@dataclass
class _Delivery:
    path: Path
    sha: str
    accepted_by: str | None  # an operator accepted this held file


class _Hold(Exception):
    def __init__(self, reason: str, rows_before: int | None, rows_after: int | None):
        super().__init__(reason)
        self.reason, self.rows_before, self.rows_after = reason, rows_before, rows_after


def _replacement_check(rows_before: int, rows_after: int, max_drop: float) -> str | None:
    """Why a replacement of a day holding `rows_before` rows by `rows_after` must be held, if it must."""
    if rows_before and not rows_after:
        return f"empty replacement: the day's {rows_before} rows would all be deleted"
    if rows_before - rows_after > max_drop * rows_before:
        return (
            f"replacement drops {rows_before - rows_after} of the day's {rows_before} rows "
            f"(more than CTI_REPLACEMENT_MAX_DROP={max_drop:.0%})"
        )
    return None


class _DayLoader:
    """Loads the deliveries of the days it is given, in order, on one connection."""

    def __init__(
        self, conn: psycopg.Connection, ctx: BatchContext, settings: IngestSettings, current: dict, warehouse=None
    ):
        self.conn, self.ctx, self.settings, self.warehouse = conn, ctx, settings, warehouse
        self.current = current  # file_date -> (sha256, file_name) of what the day holds
        self.loaded_at = ctx.loaded_at.isoformat()

    def deliver(self, d: _Delivery) -> str:
        """Load, record as a duplicate, or hold one delivery: returns which."""
        day = file_date_of(d.path.name)
        held_by_day = self.current.get(day)
        if held_by_day and held_by_day[0] == d.sha:
            self._record_duplicate(d, day, held_by_day[1])
            return "duplicate"
        content = d.path.read_bytes()
        try:
            try:
                parsed = CdrFile(d.path.name, content, self.ctx.batch_id, self.loaded_at, d.sha)
            except (MissingRequiredColumn, ValueError) as exc:
                if d.accepted_by is None:
                    raise _Hold(str(exc).removeprefix(f"{d.path.name}: "), self._day_rows(day), None) from exc
                if day is None:  # not a CDR file name: accepting it only settles it
                    self._settle_held(d, "loaded")
                    return "loaded"
                parsed = None  # accepted: the day is replaced by nothing
            self._load(d, day, content, parsed, held_by_day is not None)
        except _Hold as hold:
            self._record_hold(d, day, len(content), hold)
            return "held"
        self.current[day] = (d.sha, d.path.name)
        return "loaded"

    def _day_rows(self, day: date | None) -> int | None:
        if day is None:
            return None
        return self.conn.execute(f"select count(*) from {RAW_TABLE} where _file_date = %s", (day,)).fetchone()[0]

    def _load(self, d: _Delivery, day: date, content: bytes, parsed: CdrFile | None, replaces: bool) -> None:
        """One file in one transaction: replace its day, quarantine its bad lines, record it."""
        conn, ctx, name = self.conn, self.ctx, d.path.name
        with conn.transaction():
            # The file replaces its day: a corrected re-delivery supersedes the previous one.
            rows_before = conn.execute(f"delete from {RAW_TABLE} where _file_date = %s", (day,)).rowcount
            if parsed is not None:
                with (
                    conn.cursor() as cur,
                    cur.copy(f"copy {RAW_TABLE} ({', '.join(RAW_COLUMNS)}) from stdin (null '')") as cp,
                ):
                    # Small chunks: the server ingests one while the next is parsed.
                    buf: list[str] = []
                    for line in parsed.copy_lines():
                        buf.append(line)
                        if len(buf) == 2000:
                            cp.write("".join(buf))
                            buf.clear()
                    if buf:
                        cp.write("".join(buf))
            rows_after = parsed.rows_loaded if parsed else 0
            if parsed is not None and self.warehouse is not None:
                # The file's own line count, apart from the parser: every data line loaded or quarantined.
                lines = sum(1 for line in content.split(b"\n")[1:] if line.strip())
                reconcile(self.warehouse, ctx, name, lines, rows_after, len(parsed.quarantined))
            if replaces and d.accepted_by is None:
                reason = _replacement_check(rows_before, rows_after, self.settings.cti_replacement_max_drop)
                if reason:
                    raise _Hold(reason, rows_before, rows_after)  # rolls the day back to what it held
            if replaces:
                log.warning(
                    "cti: %s replaces day %s: %d -> %d rows%s",
                    name,
                    day,
                    rows_before,
                    rows_after,
                    f" (accepted by {d.accepted_by})" if d.accepted_by else "",
                )
            # Entries of earlier deliveries of this day are superseded by this file, those of an earlier
            # delivery under the same name (a cut file completed) too: what is still bad is quarantined again below.
            resolve_quarantine(
                conn, ctx, "select location from meta.quarantine where location like %s", (f"cdr_{day:%Y%m%d}%",)
            )
            if parsed is not None:
                write_quarantine(conn, ctx, parsed.quarantined)
            conn.execute(
                "insert into meta.cti_files (sha256, file_name, file_date, size_bytes, encoding, encoding_errors, "
                "rows_read, rows_loaded, rows_quarantined, rows_before, accepted_by, batch_id) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    d.sha,
                    name,
                    day,
                    len(content),
                    parsed.encoding if parsed else None,
                    parsed.encoding_errors if parsed else 0,
                    parsed.rows_read if parsed else 0,
                    rows_after,
                    len(parsed.quarantined) if parsed else 0,
                    rows_before if replaces else None,
                    d.accepted_by,
                    ctx.batch_id,
                ),
            )
            # Files held for this day earlier are settled: this one, or one that supersedes them.
            conn.execute(
                "update meta.cti_held_files set resolved_at = now(), status = case when file_name = %s "
                "and sha256 = %s then 'loaded' else 'superseded' end "
                "where file_date = %s and status in ('held', 'accepted')",
                (name, d.sha, day),
            )
            day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), PARIS)
            get_watermark(conn, SOURCE, OBJECT)  # row lock held to commit: commits of parallel files queue here
            advance_watermark(conn, SOURCE, OBJECT, day_end, ctx.batch_id)

    def _settle_held(self, d: _Delivery, status: str) -> None:
        self.conn.execute(
            "update meta.cti_held_files set status = %s, resolved_at = now() where file_name = %s and sha256 = %s",
            (status, d.path.name, d.sha),
        )

    def _record_hold(self, d: _Delivery, day: date | None, size: int, hold: _Hold) -> None:
        log.error("cti: %s held: %s", d.path.name, hold.reason)
        self.conn.execute(
            "insert into meta.cti_held_files (file_name, sha256, file_date, size_bytes, reason, rows_before, "
            "rows_after, batch_id) values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (file_name, sha256) do nothing",
            (d.path.name, d.sha, day, size, hold.reason, hold.rows_before, hold.rows_after, self.ctx.batch_id),
        )

    def _record_duplicate(self, d: _Delivery, day: date, original: str) -> None:
        self.conn.execute(
            "insert into meta.cti_duplicate_deliveries (file_name, sha256, file_date, original_name, batch_id) "
            "values (%s, %s, %s, %s, %s) on conflict (file_name) do update set sha256 = excluded.sha256, "
            "file_date = excluded.file_date, original_name = excluded.original_name, batch_id = excluded.batch_id, "
            "seen_at = now()",
            (d.path.name, d.sha, day, original, self.ctx.batch_id),
        )


def _scan(conn: psycopg.Connection, landing: Path, ctx: BatchContext, settings: IngestSettings, result) -> dict:
    """The deliveries to process, by day: files not processed before (by name and content), and
    held files accepted since. Files still being written are listed in `result.waiting_files`."""
    seen = set(
        conn.execute(
            "select file_name, sha256 from meta.cti_files union select file_name, sha256 "
            "from meta.cti_duplicate_deliveries union select file_name, sha256 from meta.cti_held_files "
            "where status <> 'accepted'"
        ).fetchall()
    )
    accepted = {
        (n, s): by
        for n, s, by in conn.execute(
            "select file_name, sha256, accepted_by from meta.cti_held_files where status = 'accepted'"
        )
    }
    until = ctx.interval_end.astimezone(PARIS).date() if ctx.interval_end else None
    by_day: dict[date, list[_Delivery]] = {}
    for path in pending_files(landing, until):
        if not cdr_file_ready(path, ctx.loaded_at, settings.cti_partial_file_wait):
            result.waiting_files.append(path.name)
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if (path.name, sha) in seen:
            continue
        by_day.setdefault(file_date_of(path.name) or date.min, []).append(
            _Delivery(path, sha, accepted.get((path.name, sha)))
        )
    return by_day


def load_landing_folder(
    warehouse: Warehouse, landing: Path, ctx: BatchContext, settings: IngestSettings | None = None
) -> CtiLoadResult:
    """Load every new CDR file of days before the interval end; one transaction per file.

    Days load in parallel on `CTI_LOAD_WORKERS` connections: while one thread parses, the server
    ingests another thread's COPY on the other core (1M rows on 2 cores: 1 worker ~165k rows/s,
    2 to 4 workers ~230k). Files of one day load in order, on one connection per worker.
    """
    settings = settings or IngestSettings.from_env()
    result = CtiLoadResult(source=SOURCE, object=OBJECT, batch_id=ctx.batch_id)
    if not landing.is_dir():
        raise FileNotFoundError(f"CTI landing folder {landing} does not exist (connection 'cti_landing')")
    # One load of the landing folder at a time: an overlapping run (a manual re-run beside the
    # scheduled one) waits, then finds the files processed. Released when the connection closes.
    with warehouse.connect(autocommit=True) as guard:
        if not guard.execute("select pg_try_advisory_lock(hashtext('cs_analytics.ingest_cti'))").fetchone()[0]:
            log.warning("cti: another run is loading the landing folder; waiting for it to finish")
            guard.execute("select pg_advisory_lock(hashtext('cs_analytics.ingest_cti'))")
        ensure_schema(warehouse)
        warehouse.execute(RAW_DDL)  # inside the guard: two concurrent CREATE TABLE IF NOT EXISTS can collide
        return _load_folder(warehouse, landing, ctx, settings, result)


def _load_folder(
    warehouse: Warehouse, landing: Path, ctx: BatchContext, settings: IngestSettings, result: CtiLoadResult
) -> CtiLoadResult:
    with warehouse.connect(autocommit=True) as conn:
        by_day = _scan(conn, landing, ctx, settings, result)
        current = {
            day: (sha, name)
            for day, sha, name in conn.execute(
                "select distinct on (file_date) file_date, sha256, file_name from meta.cti_files "
                "order by file_date, loaded_at desc"
            )
        }

    days = iter([by_day[d] for d in sorted(by_day)])
    next_day = threading.Lock()

    def worker() -> None:
        # One connection per worker for all its days: a new backend per file (fork,
        # authentication, cold caches) cost ~15 ms of CPU, a sixth of the whole load at 1M rows.
        with warehouse.connect(autocommit=True) as conn:
            loader = _DayLoader(conn, ctx, settings, current, warehouse)
            while True:
                with next_day:
                    deliveries = next(days, None)
                if deliveries is None:
                    return
                for d in deliveries:
                    loader.deliver(d)

    workers = max(1, min(settings.cti_load_workers, len(by_day)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return _judge(warehouse, ctx, settings, result)


def _judge(warehouse: Warehouse, ctx: BatchContext, settings: IngestSettings, result: CtiLoadResult) -> CtiLoadResult:
    """The run's verdict, from what every attempt of this batch loaded and held; record it and raise."""
    with warehouse.transaction() as conn:
        loaded = conn.execute(
            "select file_name, rows_read, rows_loaded, rows_quarantined, accepted_by is not null "
            "from meta.cti_files where batch_id = %s order by file_date, loaded_at",
            (ctx.batch_id,),
        ).fetchall()
        result.duplicate_deliveries = [
            r[0]
            for r in conn.execute(
                "select file_name from meta.cti_duplicate_deliveries where batch_id = %s order by file_name",
                (ctx.batch_id,),
            )
        ]
        held = conn.execute(
            "select file_name, reason, rows_before, rows_after, batch_id = %s from meta.cti_held_files "
            "where status = 'held' order by file_date nulls first, file_name",
            (ctx.batch_id,),
        ).fetchall()
        attempt_counts = _attempt_counts(conn, ctx)
        result.files_loaded = [r[0] for r in loaded]
        result.rows_read = sum(r[1] or 0 for r in loaded)
        result.rows_inserted = sum(r[2] for r in loaded)
        result.rows_quarantined = sum(r[3] for r in loaded)
        result.held_files = {n: reason for n, reason, _, _, mine in held if mine}
        still_held = {n: reason for n, reason, _, _, mine in held if not mine}
        result.detail = {
            "files_loaded": len(result.files_loaded),
            "duplicate_deliveries": result.duplicate_deliveries,
            "held_files": result.held_files,
            "still_held": still_held,
            "waiting_files": result.waiting_files,
        }
        result.watermark = get_watermark(conn, SOURCE, OBJECT, lock=False)
        record_batch(conn, ctx, result, attempt_counts)
    if still_held:
        log.warning(
            "cti: %d file(s) held by earlier runs, not loaded: %s; %s", len(still_held), still_held, ACCEPT_HOWTO
        )
    if result.waiting_files:
        log.warning("cti: still being written, left for a later run: %s", ", ".join(result.waiting_files))
    log.info(
        "cti: %d file(s) loaded (%d rows, %d quarantined), %d duplicate deliveries, %d held",
        len(result.files_loaded),
        result.rows_inserted,
        result.rows_quarantined,
        len(result.duplicate_deliveries),
        len(result.held_files),
    )
    # Rows of files an operator accepted do not count against the quarantine limit.
    judged = LoadResult(SOURCE, OBJECT, ctx.batch_id)
    judged.rows_read = sum(r[1] or 0 for r in loaded if not r[4])
    judged.rows_quarantined = sum(r[3] for r in loaded if not r[4])
    try:
        enforce_quarantine_rate(judged, settings.quarantine_max_rate)
    except QuarantineRateExceeded as exc:
        if not result.held_files:
            raise
        rate_failure = f" Also: {exc}"
    else:
        rate_failure = ""
    if result.held_files:
        listing = "; ".join(
            f"{n}: {reason}" + (f" ({before} -> {after} rows)" if before is not None and after is not None else "")
            for n, reason, before, after, mine in held
            if mine
        )
        raise CtiFilesHeld(
            f"cti: {len(result.held_files)} file(s) held, not loaded: {listing}. Their days keep what they had; "
            f"{len(result.files_loaded)} other file(s) were loaded. To load a held file as it is, {ACCEPT_HOWTO}."
            + rate_failure
        )
    return result


def _attempt_counts(conn: psycopg.Connection, ctx: BatchContext) -> dict:
    """What this attempt itself loaded (files recorded since it started)."""
    rows = conn.execute(
        "select count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_quarantined), 0) from meta.cti_files where batch_id = %s and loaded_at >= %s",
        (ctx.batch_id, ctx.loaded_at),
    ).fetchone()
    held = conn.execute(
        "select count(*) from meta.cti_held_files where batch_id = %s and held_at >= %s", (ctx.batch_id, ctx.loaded_at)
    ).fetchone()[0]
    return {
        "started_at": ctx.loaded_at.isoformat(),
        "files_loaded": rows[0],
        "rows_read": rows[1],
        "rows_inserted": rows[2],
        "rows_quarantined": rows[3],
        "files_held": held,
    }


def accept_files(warehouse: Warehouse, names: Iterable[str], accepted_by: str) -> list[str]:
    """Accept files as they are: a held file loads on the next run (or retry) even though it drops
    rows or carries none; a loaded file no longer counts against the quarantine limit of its run.
    Returns the names newly accepted (accepting twice is harmless: a retried task does it)."""
    names = sorted(set(names))
    if not names:
        return []
    ensure_schema(warehouse)
    with warehouse.transaction() as conn:
        held = conn.execute(
            "update meta.cti_held_files set status = 'accepted', accepted_by = %s, accepted_at = now() "
            "where file_name = any(%s) and status = 'held' returning file_name",
            (accepted_by, names),
        ).fetchall()
        loaded = conn.execute(
            "update meta.cti_files set accepted_by = %s where file_name = any(%s) and accepted_by is null "
            "returning file_name",
            (accepted_by, names),
        ).fetchall()
        accepted = sorted({r[0] for r in held + loaded})
        known = {
            r[0]
            for r in conn.execute(
                "select file_name from meta.cti_held_files where file_name = any(%s) union "
                "select file_name from meta.cti_files where file_name = any(%s)",
                (names, names),
            )
        }
        unknown = [n for n in names if n not in known]
        if unknown:  # a typo must not pass for an acceptance
            raise ValueError(f"cti: no held or loaded file named {', '.join(unknown)} (nothing accepted)")
    for name in accepted:
        log.warning("cti: %s accepted by %s", name, accepted_by)
    return accepted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cs_analytics.ingestion.cti", description="CDR files held by ingest_cti"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("held", help="list the files held (not loaded), with the reason and counts")
    accept = commands.add_parser("accept", help="load held files as they are on the next run (or retry)")
    accept.add_argument("files", nargs="+", help="file names, e.g. cdr_20250601_v2.csv")
    accept.add_argument("--by", default=None, help="who accepts (default: the user running the command)")
    args = parser.parse_args(argv)
    warehouse = Warehouse.for_flow("loader")
    if args.command == "accept":
        by = args.by or f"cli:{getpass.getuser()}"
        for name in accept_files(warehouse, args.files, by):
            print(f"accepted {name} (by {by}): it loads on the next ingest_cti run, or when its failed task is cleared")
        return 0
    ensure_schema(warehouse)
    rows = warehouse.query(
        "select file_name, reason, rows_before, rows_after, batch_id, held_at from meta.cti_held_files "
        "where status = 'held' order by file_date nulls first, file_name"
    )
    for name, reason, before, after, batch, at in rows:
        print(f"{name}: {reason} (day rows {before} -> {after}); held by {batch} at {at:%Y-%m-%d %H:%M}")
    print(f"{len(rows)} file(s) held" + (f"; {ACCEPT_HOWTO}" if rows else ""))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
