"""Parser of the CTI's call detail records: one `;`-separated CSV file a day.

Pure: `CdrFile` takes a file's name and content (it opens no file and touches no
database) and yields the rows of `raw_cti.calls` as PostgreSQL COPY text lines
(`RAW_COLUMNS`), while recording the lines it cannot load with the reason and `file:line`
(`quarantined`). The loader, `cti.py`, does the I/O.

- Encoding, decided per file (`decode_cdr`): UTF-8 (with or without BOM) when the file
  decodes as UTF-8 as a whole, a cut last line aside; otherwise Windows-1252, the other
  encoding CTI exports use, unless the file carries a BOM or at least as many of its non-ASCII lines
  are valid UTF-8 as not (then it is UTF-8 with corrupt lines). Windows-1252 decodes
  almost any byte, so in such a file a byte it leaves undefined or a control character is
  corruption; a NUL byte or a lone carriage return is corruption in any file. `encoding`
  says what was used; only corrupt lines go to quarantine.
- A file whose last line has no line terminator was cut (or is still being written, which
  the loader waits out): that line is quarantined as "truncated", the rest loads.
- Lines that cannot be loaded: corrupt bytes, wrong field count, unparsable number or
  date, missing call id, duplicate call id within the file, a start more than a day
  away from the file's date (a clock gone wrong), an end before the start. The rest of the file loads.
- Times are Europe/Paris wall-clock without offset. Outside DST changes the offset is
  unambiguous. In the autumn hour that occurs twice (02:00-03:00), a call that starts or
  ends in that hour while the other end is outside it, or that runs across the switch, is
  placed by its own duration (wait + talk): of the offsets its times could have, the one
  whose elapsed time matches. A call entirely inside the hour has the same length either
  way; rows are in chronological order, so the first time the clock goes *back* inside
  that hour marks the switch from summer time (+02) to winter time (+01). A file whose
  calls inside that hour all come after the switch, none of them reaching 03:00, cannot be
  told apart and is read as summer time; see dbt_project/DECISIONLOG.md. A time inside the
  spring gap (02:00-03:00 on the last Sunday of March) does not exist and is quarantined.

Parsing is a tight loop over bytes and strings (no per-row datetime objects): the UTC
offset is cached per local hour and appended to the local text, and Postgres does
the conversion during COPY.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cs_analytics.config import LOCAL_TZ
from cs_analytics.ingestion.batch import MissingRequiredColumn, QuarantinedRow

SOURCE, OBJECT = "cti", "calls"
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
# The columns of raw_cti.calls, in the order of the COPY lines CdrFile yields. From
# local_start_time to agent_name they are the file's own columns from start_time on, in the
# same order, so a line in the usual layout passes through with one replace.
RAW_COLUMNS = (
    "call_id",
    "started_at",
    "ended_at",
    "local_start_time",
    "local_end_time",
    *EXPECTED_COLUMNS[3:],
    "_extra",
    "_file_name",
    "_file_date",
    "_line_number",
    "_file_sha256",
    "_batch_id",
    "_loaded_at",
)

_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# Every valid ':MM:SS' tail: one set lookup instead of a regex per timestamp.
_MINUTE_SECOND = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
PARIS = ZoneInfo(LOCAL_TZ)
_BOM = b"\xef\xbb\xbf"
# Control characters other than tab: corruption in a Windows-1252 file (and shown escaped in quarantine).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
TRUNCATED = "truncated: the file ends inside this line (no line terminator: the file was cut or is still being written)"


@dataclass
class DecodedCdr:
    """A CDR file's lines as text, the encoding used, and the lines that are corrupt."""

    encoding: str  # utf-8, utf-8-sig (with BOM) or windows-1252
    lines: list[str]  # without terminators; a cut last line included
    truncated: bool  # the last line has no terminator
    corrupt: dict[int, str] = field(default_factory=dict)  # 0-based line index -> reason


def _printable(raw: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", raw)


def decode_cdr(content: bytes) -> DecodedCdr:
    """Decide the file's encoding and split it into lines (see the module docstring)."""
    truncated = bool(content) and not content.endswith(b"\n")
    bom = content.startswith(_BOM)
    body = content[3:] if bom else content
    utf8 = "utf-8-sig" if bom else "utf-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_lines(body, utf8, bom, truncated)
    corrupt: dict[int, str] = {}
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if not truncated:
        lines.pop()  # after the last terminator
    if "\x00" in text or "\r" in text:  # NUL breaks COPY; a lone CR would end a COPY row early
        for i, line in enumerate(lines):
            if "\x00" in line or "\r" in line:
                corrupt[i] = "encoding: control character in the line (NUL byte or lone carriage return)"
    return DecodedCdr(utf8, lines, truncated, corrupt)


def _decode_lines(body: bytes, utf8: str, bom: bool, truncated: bool) -> DecodedCdr:
    """The slow path, line by line: a file that is not valid UTF-8 as a whole."""
    raw = body.replace(b"\r\n", b"\n").split(b"\n")
    if not truncated:
        raw.pop()
    last = len(raw) - 1
    valid_multibyte = invalid = 0
    utf8_lines: list[str | None] = []
    for i, line in enumerate(raw):
        try:
            utf8_lines.append(line.decode("utf-8"))
            valid_multibyte += not line.isascii()
        except UnicodeDecodeError as exc:
            if i == last and truncated and exc.reason == "unexpected end of data":
                utf8_lines.append(line.decode("utf-8", "replace"))  # cut inside a character: quarantined anyway
            else:
                utf8_lines.append(None)
                invalid += 1
    corrupt: dict[int, str] = {}
    if invalid == 0 or bom or valid_multibyte >= invalid:
        lines = []
        for i, text in enumerate(utf8_lines):
            if text is None:
                bad = next(b for b in raw[i] if b >= 0x80)
                corrupt[i] = f"encoding: not valid UTF-8 in a UTF-8 file (byte 0x{bad:02x})"
                text = raw[i].decode("utf-8", "backslashreplace")
            elif "\x00" in text or "\r" in text:
                corrupt[i] = "encoding: control character in the line (NUL byte or lone carriage return)"
            lines.append(text)
        return DecodedCdr(utf8, lines, truncated, corrupt)
    lines = []
    for i, line in enumerate(raw):
        try:
            text = line.decode("cp1252")
        except UnicodeDecodeError as exc:
            corrupt[i] = f"encoding: byte 0x{line[exc.start]:02x} is not a character in Windows-1252"
            text = line.decode("cp1252", "backslashreplace")
        else:
            control = _CONTROL.search(text)
            if control:
                corrupt[i] = f"encoding: control character 0x{ord(control.group()):02x} in a Windows-1252 file"
        lines.append(text)
    return DecodedCdr("windows-1252", lines, truncated, corrupt)


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

    def by_duration(self, start: str, start_off: str, end: str, end_off: str, seconds: int) -> tuple[str, str]:
        """The offsets, among those the two times can have, whose elapsed time is closest to the
        call's duration; row order's choice (the ones given) when the duration cannot tell."""

        def elapsed(s_off: str, e_off: str) -> float:
            s_at = datetime.fromisoformat(f"{start}{s_off}:00")
            return (datetime.fromisoformat(f"{end}{e_off}:00") - s_at).total_seconds()

        starts = ("+02", "+01") if self.is_ambiguous(start) else (start_off,)
        ends = ("+02", "+01") if self.is_ambiguous(end) else (end_off,)
        best, best_gap = (start_off, end_off), abs(elapsed(start_off, end_off) - seconds)
        for s_off in starts:
            for e_off in ends:
                length = elapsed(s_off, e_off)
                if length >= 0 and abs(length - seconds) < best_gap:
                    best, best_gap = (s_off, e_off), abs(length - seconds)
        return best


def file_date_of(name: str) -> date | None:
    m = FILE_PATTERN.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d").date()
    except ValueError:
        return None


class CdrFile:
    """One CDR file: decoded and its header checked on construction (ValueError, or
    MissingRequiredColumn, for a file that cannot load at all), then `copy_lines()` streams
    the valid rows as COPY text while recording the quarantined ones, so COPY can start
    before the file is fully parsed."""

    def __init__(self, name: str, content: bytes, batch_id: str, loaded_at: str, sha256: str | None = None):
        self.name = name
        fdate = file_date_of(name)
        if fdate is None:
            raise ValueError(f"{name}: not a CDR file name (expected cdr_YYYYMMDD.csv)")
        self.file_date = fdate
        self.sha256 = sha256 or hashlib.sha256(content).hexdigest()
        self.quarantined: list[QuarantinedRow] = []
        self.rows_read = self.rows_loaded = self.encoding_errors = 0
        if not content.strip():
            raise ValueError(f"{name}: empty file")
        decoded = decode_cdr(content)
        self.encoding = decoded.encoding
        self._lines = decoded.lines
        self._corrupt = decoded.corrupt
        self._truncated = decoded.truncated
        if len(self._lines) == 1 and self._truncated:
            raise ValueError(f"{name}: truncated: the file ends inside its header line")
        if 0 in self._corrupt:
            raise ValueError(f"{name}: undecodable header line ({self._corrupt[0]})")
        self.header = [h.strip().lower() for h in self._lines[0].split(";")]
        for col in REQUIRED_COLUMNS:
            if col not in self.header:
                raise MissingRequiredColumn(SOURCE, OBJECT, col, f"header of {name}")
        self._lineage = f"{name.translate(_ESC)}\t{fdate.isoformat()}"
        # A day's file holds that day's calls; one crossing midnight may start the day before.
        self._days = frozenset((fdate + timedelta(days=d)).isoformat() for d in (-1, 0, 1))
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

        corrupt = self._corrupt
        cut = len(self._lines) if self._truncated else 0  # the cut last line's number
        for lineno, line in enumerate(self._lines[1:], start=2):
            if corrupt and lineno - 1 in corrupt:
                self.rows_read += 1
                self.encoding_errors += 1
                self._quarantine(lineno, corrupt[lineno - 1], _printable(line))
                continue
            if lineno == cut:
                self.rows_read += 1
                self._quarantine(lineno, TRUNCATED, line)
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
                ambiguous = False
                start_off = offsets.get(start[:13]) if start[13:] in _MINUTE_SECOND else None
                if start_off is None:  # new hour, malformed time, or the ambiguous autumn hour
                    start_off = clock.offset(start, second_pass)
                    if clock.is_ambiguous(start):
                        ambiguous = True
                        if max_ambiguous_start and start < max_ambiguous_start:
                            second_pass = True  # the clock went back: winter time from here on
                            start_off = "+01"
                        max_ambiguous_start = max(max_ambiguous_start, start)
                end_off = ""
                if end:
                    end_off = offsets.get(end[:13]) if end[13:] in _MINUTE_SECOND else None
                    if end_off is None:
                        end_off = clock.offset(end, second_pass)
                        if clock.is_ambiguous(end):
                            ambiguous = True
                            if not second_pass and end < start:
                                end_off = "+01"  # the call ran across the switch
                    if ambiguous:
                        start_off, end_off = clock.by_duration(start, start_off, end, end_off, int(wait) + int(talk))
                        if start_off == "+01" and clock.is_ambiguous(start):
                            second_pass = True  # the call itself says the switch is behind us
            except LocalTimeError as exc:
                self._quarantine(lineno, f"unparsable time: {exc}", line)
                continue
            if start[:10] not in self._days:
                self._quarantine(lineno, f"start_time {start!r} is not within a day of the file's date", line)
                continue
            if end and end_off == start_off and end < start:  # same offset: local text compares as time
                self._quarantine(lineno, f"the call ends before it starts ({end!r} < {start!r})", line)
                continue
            seen_ids.add(call_id)
            extra = (
                json.dumps({c: fields[i] for c, i in extra_cols}, ensure_ascii=False).translate(_ESC)
                if extra_cols
                else ""
            )
            self.rows_loaded += 1
            # COPY runs with NULL '': an empty field is NULL. A verbatim line's fields from
            # start_time on are already RAW_COLUMNS' local_start_time to agent_name.
            rest = (
                line[len(call_id) + 1 :].replace(";", "\t")
                if verbatim
                else "\t".join((start, end, caller, called, direction, queue, wait, talk, outcome, agent_id, agent))
            )
            yield (
                f"{call_id}\t{start}{start_off}\t{end + end_off if end else ''}\t{rest}\t{extra}\t"
                f"{self._lineage}\t{lineno}\t{self._tail}\n"
            )
