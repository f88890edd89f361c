"""CTI call detail records: daily `;`-separated CSV files dropped in a landing folder.

- A file is identified by the SHA-256 of its content: a file delivered twice (same
  content, any name) is recorded as a duplicate delivery and not loaded again.
- Each file replaces its own day in `raw_cti.calls` (partition `_file_date`), so a
  corrected re-delivery supersedes the first one and a re-run never duplicates.
- Lines that cannot be loaded (not UTF-8, wrong field count, unparsable number or
  date, missing call id, duplicate call id) go to `meta.quarantine` with the reason,
  the raw line and `file:line`. The rest of the file loads.
- Times are Europe/Paris wall-clock without offset. Outside DST changes the offset is
  unambiguous. In the autumn hour that occurs twice (02:00-03:00), rows are in
  chronological order, so the first time the clock goes *back* inside that hour marks
  the switch from summer time (+02) to winter time (+01). A file whose calls in that
  hour all come after the switch cannot be told apart and is read as summer time; see
  dbt_project/DECISIONLOG.md. A time inside the spring gap (02:00-03:00 on the last
  Sunday of March) does not exist and is quarantined.

Parsing is a tight loop over bytes and strings (no per-row datetime objects): the UTC
offset is cached per local hour and appended to the local text, and Postgres does
the conversion during COPY.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from cs_analytics.config import LOCAL_TZ, IngestSettings
from cs_analytics.ingestion.batch import (
    BatchContext,
    LoadResult,
    MissingRequiredColumn,
    QuarantinedRow,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

SOURCE, OBJECT = "cti", "calls"
RAW_TABLE = "raw_cti.calls"
FILE_PATTERN = re.compile(r"^cdr_(\d{8})(?:_[A-Za-z0-9-]+)?\.csv$")
EXPECTED_COLUMNS = (
    "call_id",
    "start_time",
    "end_time",
    "caller_number",
    "called_number",
    "direction",
    "queue",
    "wait_seconds",
    "talk_seconds",
    "outcome",
    "agent_id",
    "agent_name",
)
REQUIRED_COLUMNS = (
    "call_id",
    "start_time",
    "end_time",
    "caller_number",
    "direction",
    "wait_seconds",
    "talk_seconds",
    "outcome",
)
RAW_COLUMNS = (
    "call_id",
    "started_at",
    "ended_at",
    "local_start_time",
    "local_end_time",
    "caller_number",
    "called_number",
    "direction",
    "queue",
    "wait_seconds",
    "talk_seconds",
    "outcome",
    "agent_id",
    "agent_name",
    "_extra",
    "_file_name",
    "_file_date",
    "_line_number",
    "_file_sha256",
    "_batch_id",
    "_loaded_at",
)
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
_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# Every valid ':MM:SS' tail: one set lookup instead of a regex per timestamp.
_MINUTE_SECOND = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
PARIS = ZoneInfo(LOCAL_TZ)


class LocalTimeError(ValueError):
    pass


class ParisClock:
    """Europe/Paris wall time -> '+HH' UTC offset, cached per local hour."""

    def __init__(self) -> None:
        self.cache: dict[str, str | None] = {}  # None marks an ambiguous hour

    def offset(self, local: str, second_pass: bool) -> str:
        if not _TS.match(local) or local[14:16] >= "60" or local[17:19] >= "60":
            raise LocalTimeError(f"not a 'YYYY-MM-DD HH:MM:SS' time: {local!r}")
        hour_key = local[:13]
        if hour_key not in self.cache:
            self.cache[hour_key] = self._hour_offset(hour_key)
        off = self.cache[hour_key]
        if off is None:
            return "+01" if second_pass else "+02"
        return off

    @staticmethod
    def _hour_offset(hour_key: str) -> str | None:
        try:
            naive = datetime(int(hour_key[:4]), int(hour_key[5:7]), int(hour_key[8:10]), int(hour_key[11:13]), 30)
        except ValueError as exc:
            raise LocalTimeError(f"impossible date/time {hour_key}:..: {exc}") from exc
        first = naive.replace(tzinfo=PARIS, fold=0)
        second = naive.replace(tzinfo=PARIS, fold=1)
        if first.utcoffset() != second.utcoffset():
            # Ambiguous (autumn) or non-existent (spring): tell them apart by round-tripping.
            if first.astimezone(UTC).astimezone(PARIS).replace(tzinfo=None) != naive:
                raise LocalTimeError(f"{hour_key}:.. does not exist in {LOCAL_TZ} (spring DST gap)")
            return None
        hours = int(first.utcoffset().total_seconds() // 3600)
        return f"{hours:+03d}"

    def is_ambiguous(self, local: str) -> bool:
        return self.cache.get(local[:13], "") is None


def file_date_of(name: str) -> date | None:
    m = FILE_PATTERN.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d").date()
    except ValueError:
        return None


class CdrFile:
    """One CDR file: the header is checked on construction (MissingRequiredColumn), then
    `copy_lines()` streams the valid rows as COPY text while recording the quarantined ones,
    so COPY can start before the file is fully parsed."""

    def __init__(self, name: str, content: bytes, batch_id: str, loaded_at: str, sha256: str | None = None):
        self.name = name
        fdate = file_date_of(name)
        if fdate is None:
            raise ValueError(f"{name}: not a CDR file name (expected cdr_YYYYMMDD.csv)")
        self.file_date = fdate
        self.sha256 = sha256 or hashlib.sha256(content).hexdigest()
        self.quarantined: list[QuarantinedRow] = []
        self.rows_read = self.rows_loaded = self.encoding_errors = 0
        try:
            self._lines: list[str | None] = content.decode("utf-8").splitlines()
            self._raw: list[bytes] | None = None
        except UnicodeDecodeError:  # decode line by line: only the bad lines are lost to quarantine
            self._raw = content.splitlines()
            self._lines = []
            for raw in self._raw:
                try:
                    self._lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self._lines.append(None)
        if not self._lines or self._lines[0] is None:
            raise ValueError(f"{name}: missing or undecodable header line")
        self.header = [h.strip().lower() for h in self._lines[0].lstrip("\ufeff").split(";")]
        for col in REQUIRED_COLUMNS:
            if col not in self.header:
                raise MissingRequiredColumn(SOURCE, OBJECT, col, f"header of {name}")
        self._lineage = f"{name.translate(_ESC)}\t{fdate.isoformat()}"
        self._tail = f"{self.sha256}\t{batch_id}\t{loaded_at}"

    def _quarantine(self, lineno: int, reason: str, raw: str) -> None:
        self.quarantined.append(QuarantinedRow(f"{self.name}:{lineno}", reason, raw))

    def copy_lines(self) -> Iterator[str]:
        idx = {col: i for i, col in enumerate(self.header)}
        standard = tuple(self.header) == EXPECTED_COLUMNS  # the usual layout: no remapping per row
        known = [idx.get(c) for c in EXPECTED_COLUMNS]
        extra_cols = [(col, i) for col, i in idx.items() if col not in EXPECTED_COLUMNS]
        n_fields = len(self.header)
        clock = ParisClock()
        offsets = clock.cache
        seen_ids: set[str] = set()
        max_ambiguous_start = ""
        second_pass = False

        for lineno, line in enumerate(self._lines[1:], start=2):
            if line is None:
                self.rows_read += 1
                self.encoding_errors += 1
                raw = self._raw[lineno - 1]  # type: ignore[index]
                bad = next((b for b in raw if b >= 0x80), 0)
                self._quarantine(
                    lineno,
                    f"encoding: line is not valid UTF-8 (byte 0x{bad:02x}; the file looks Latin-1/cp1252 encoded)",
                    raw.decode("latin-1"),
                )
                continue
            if not line or line.isspace():
                continue
            self.rows_read += 1
            fields = line.split(";")
            if len(fields) != n_fields:
                self._quarantine(lineno, f"malformed: expected {n_fields} fields, got {len(fields)}", line)
                continue
            verbatim = standard  # the line's fields go to COPY as they are
            if "; " in line or " ;" in line or line[0] == " " or line[-1] == " ":
                fields = [f.strip() for f in fields]
                verbatim = False
            if "\\" in line or "\t" in line:
                fields = [f.translate(_ESC) for f in fields]
                verbatim = False
            if standard:
                call_id, start, end, caller, called, direction, queue, wait, talk, outcome, agent_id, agent = fields
            else:
                (call_id, start, end, caller, called, direction, queue, wait, talk, outcome, agent_id, agent) = [
                    fields[i] if i is not None else "" for i in known
                ]
            if not call_id:
                self._quarantine(lineno, "call_id is empty", line)
                continue
            if call_id in seen_ids:
                self._quarantine(lineno, f"duplicate call_id {call_id!r} within the file", line)
                continue
            if not (wait.isdigit() and len(wait) < 10):
                self._quarantine(lineno, f"wait_seconds: not a non-negative integer: {wait!r}", line)
                continue
            if not (talk.isdigit() and len(talk) < 10):
                self._quarantine(lineno, f"talk_seconds: not a non-negative integer: {talk!r}", line)
                continue
            try:
                # Fast path: an hour already validated and cached, and a valid ':MM:SS'.
                start_off = offsets.get(start[:13]) if start[13:] in _MINUTE_SECOND else None
                if start_off is None:  # new hour, malformed time, or the ambiguous autumn hour
                    start_off = clock.offset(start, second_pass)
                    if clock.is_ambiguous(start):
                        if max_ambiguous_start and start < max_ambiguous_start:
                            second_pass = True  # the clock went back: winter time from here on
                            start_off = "+01"
                        max_ambiguous_start = max(max_ambiguous_start, start)
                end_off = ""
                if end:
                    end_off = offsets.get(end[:13]) if end[13:] in _MINUTE_SECOND else None
                    if end_off is None:
                        end_off = clock.offset(end, second_pass)
                        if clock.is_ambiguous(end) and not second_pass and end < start:
                            end_off = "+01"  # the call ran across the switch
            except LocalTimeError as exc:
                self._quarantine(lineno, f"unparsable time: {exc}", line)
                continue
            seen_ids.add(call_id)
            extra = (
                json.dumps({c: fields[i] for c, i in extra_cols}, ensure_ascii=False).translate(_ESC)
                if extra_cols
                else ""
            )
            self.rows_loaded += 1
            # COPY runs with NULL '': an empty field is NULL. The raw columns from local_start_time
            # to agent_name are the file's own columns from start_time on, in the same order, so a
            # verbatim line passes through with one replace.
            rest = (
                line[len(call_id) + 1 :].replace(";", "\t")
                if verbatim
                else "\t".join((start, end, caller, called, direction, queue, wait, talk, outcome, agent_id, agent))
            )
            yield (
                f"{call_id}\t{start}{start_off}\t{end + end_off if end else ''}\t{rest}\t{extra}\t"
                f"{self._lineage}\t{lineno}\t{self._tail}\n"
            )


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
    warehouse.ensure_meta()
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
