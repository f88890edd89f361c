"""The CDR parser on hand-built files: what it yields for COPY and what it quarantines."""

from __future__ import annotations

import json
from datetime import date

import pytest

from cs_analytics.ingestion.batch import MissingRequiredColumn
from cs_analytics.ingestion.cdr_parser import EXPECTED_COLUMNS, RAW_COLUMNS, CdrFile, decode_cdr, file_date_of

HEADER = ";".join(EXPECTED_COLUMNS)
LOADED_AT = "2025-01-16T06:00:00+00:00"


def line(call_id: str, start: str, end: str = "", wait: str = "12", talk: str = "95", **over: str) -> str:
    fields = {
        "call_id": call_id,
        "start_time": start,
        "end_time": end,
        "caller_number": "+33612345678",
        "called_number": "+33145000000",
        "direction": "inbound",
        "queue": "SAV",
        "wait_seconds": wait,
        "talk_seconds": talk,
        "outcome": "answered",
        "agent_id": "A01",
        "agent_name": "Claire Martin",
        **over,
    }
    return ";".join(fields[c] for c in EXPECTED_COLUMNS)


def parse(name: str, *lines: str, header: str = HEADER) -> tuple[CdrFile, list[dict]]:
    content = ("\n".join((header, *lines)) + "\n").encode()
    cdr = CdrFile(name, content, "cti.calls:test:run", LOADED_AT)
    rows = [dict(zip(RAW_COLUMNS, out.rstrip("\n").split("\t"), strict=True)) for out in cdr.copy_lines()]
    return cdr, rows


def test_file_date_comes_from_the_name():
    assert file_date_of("cdr_20250115.csv") == date(2025, 1, 15)
    assert file_date_of("cdr_20250115_redelivery-2.csv") == date(2025, 1, 15)
    assert file_date_of("cdr_20250230.csv") is None  # no such day
    assert file_date_of("calls_20250115.csv") is None


def test_a_clean_winter_file_becomes_copy_rows_with_lineage():
    cdr, rows = parse(
        "cdr_20250115.csv",
        line("C1", "2025-01-15 09:00:05", "2025-01-15 09:02:00"),
        "",  # blank lines are skipped, not counted
        line("C2", "2025-01-15 23:59:59"),
    )
    assert (cdr.rows_read, cdr.rows_loaded, cdr.quarantined) == (2, 2, [])
    first, second = rows
    assert first["call_id"] == "C1" and first["started_at"] == "2025-01-15 09:00:05+01"
    assert first["ended_at"] == "2025-01-15 09:02:00+01" and first["local_start_time"] == "2025-01-15 09:00:05"
    assert first["agent_name"] == "Claire Martin" and first["wait_seconds"] == "12" and first["_extra"] == ""
    assert (first["_file_name"], first["_file_date"], first["_line_number"]) == ("cdr_20250115.csv", "2025-01-15", "2")
    assert first["_batch_id"] == "cti.calls:test:run" and first["_loaded_at"] == LOADED_AT
    assert first["_file_sha256"] == cdr.sha256 and len(cdr.sha256) == 64
    assert second["_line_number"] == "4" and second["ended_at"] == "" and second["local_end_time"] == ""


def test_summer_time_is_plus_two():
    _, (row,) = parse("cdr_20250715.csv", line("C1", "2025-07-15 10:00:00", "2025-07-15 10:05:00"))
    assert row["started_at"] == "2025-07-15 10:00:00+02" and row["ended_at"] == "2025-07-15 10:05:00+02"


def test_bad_lines_are_quarantined_with_reason_and_location():
    cdr, rows = parse(
        "cdr_20250115.csv",
        line("C1", "2025-01-15 09:00:00"),
        line("C1", "2025-01-15 09:10:00"),  # line 3
        line("", "2025-01-15 09:20:00"),
        line("C4", "2025-01-15 09:30:00", wait="-3"),
        line("C5", "2025-01-15 09:40:00", talk="1.5"),
        line("C6", "15/01/2025 09:50:00"),
        "C7;2025-01-15 10:00:00;too;few",
        line("C8", "2025-01-15 10:10:00"),
    )
    assert [r["call_id"] for r in rows] == ["C1", "C8"]
    assert cdr.rows_read == 8 and cdr.rows_loaded == 2
    reasons = {q.location: q.reason for q in cdr.quarantined}
    assert reasons == {
        "cdr_20250115.csv:3": "duplicate call_id 'C1' within the file",
        "cdr_20250115.csv:4": "call_id is empty",
        "cdr_20250115.csv:5": "wait_seconds: not a non-negative integer: '-3'",
        "cdr_20250115.csv:6": "talk_seconds: not a non-negative integer: '1.5'",
        "cdr_20250115.csv:7": "unparsable time: not a 'YYYY-MM-DD HH:MM:SS' time: '15/01/2025 09:50:00'",
        "cdr_20250115.csv:8": "malformed: expected 12 fields, got 4",
    }
    assert cdr.quarantined[0].raw_record == line("C1", "2025-01-15 09:10:00")  # the line as delivered


def test_a_time_in_the_spring_gap_is_quarantined():
    cdr, rows = parse(
        "cdr_20250330.csv",
        line("C1", "2025-03-30 01:59:00"),
        line("C2", "2025-03-30 02:30:00"),
        line("C3", "2025-03-30 03:00:00"),
    )
    assert [(r["call_id"], r["started_at"][-3:]) for r in rows] == [("C1", "+01"), ("C3", "+02")]
    (q,) = cdr.quarantined
    assert q.location == "cdr_20250330.csv:3" and "does not exist in Europe/Paris" in q.reason


def test_the_autumn_hour_switches_to_winter_time_when_the_clock_goes_back():
    _, rows = parse(
        "cdr_20251026.csv",
        line("C1", "2025-10-26 02:20:00", "2025-10-26 02:25:00"),
        line("C2", "2025-10-26 02:50:00", "2025-10-26 02:10:00"),  # ends after the switch
        line("C3", "2025-10-26 02:05:00"),  # earlier than C2: the clock went back
        line("C4", "2025-10-26 02:40:00"),
        line("C5", "2025-10-26 03:10:00"),
    )
    offsets = {r["call_id"]: (r["started_at"][-3:], r["ended_at"][-3:]) for r in rows}
    assert offsets == {
        "C1": ("+02", "+02"),
        "C2": ("+02", "+01"),
        "C3": ("+01", ""),
        "C4": ("+01", ""),
        "C5": ("+01", ""),
    }


def test_a_windows_1252_file_loads_and_its_encoding_is_recorded():
    lines = (HEADER, line("C1", "2025-01-15 09:00:00"), line("C2", "2025-01-15 09:05:00", agent_name="Cœur N’Diaye"))
    cdr = CdrFile("cdr_20250115.csv", ("\n".join(lines) + "\n").encode("cp1252"), "b", LOADED_AT)
    assert [out.split("\t")[13] for out in cdr.copy_lines()] == ["Claire Martin", "Cœur N’Diaye"]
    assert (cdr.encoding, cdr.encoding_errors, cdr.quarantined) == ("windows-1252", 0, [])


def test_decoding_tells_windows_1252_from_corrupt_utf8_and_from_a_cut_character():
    assert decode_cdr("a;é\r\nb;c\r\n".encode()).lines == ["a;é", "b;c"]  # CRLF
    assert decode_cdr("\ufeffa;é\n".encode()).encoding == "utf-8-sig"
    mixed = decode_cdr("a;é\nb;\xff\n".encode("latin-1").replace(b"\xe9", "é".encode()))
    assert (mixed.encoding, mixed.corrupt) == ("utf-8", {1: "encoding: not valid UTF-8 in a UTF-8 file (byte 0xff)"})
    cp = decode_cdr(b"a;\xe9\nb;\x81\nc;\x01\n")
    assert cp.encoding == "windows-1252" and cp.lines[0] == "a;é"
    assert cp.corrupt == {
        1: "encoding: byte 0x81 is not a character in Windows-1252",
        2: "encoding: control character 0x01 in a Windows-1252 file",
    }
    cut = decode_cdr("a;b\nc;Hé".encode()[:-1])
    assert (cut.encoding, cut.truncated, cut.corrupt, len(cut.lines)) == ("utf-8", True, {}, 2)
    assert decode_cdr(b"a;b\x00c\n").corrupt == {
        0: "encoding: control character in the line (NUL byte or lone carriage return)"
    }


def test_an_unterminated_last_line_is_quarantined_as_truncated():
    content = ("\n".join((HEADER, line("C1", "2025-01-15 09:00:00"), line("C2", "2025-01-15 09:05:00")))).encode()
    cdr = CdrFile("cdr_20250115.csv", content[:-7], "b", LOADED_AT)  # "Claire Martin" cut to "Claire"
    assert [out.split("\t")[0] for out in cdr.copy_lines()] == ["C1"]
    (q,) = cdr.quarantined
    assert q.location == "cdr_20250115.csv:3" and q.reason.startswith("truncated") and q.raw_record.endswith(";Claire")


def test_other_column_orders_are_remapped_and_unknown_columns_kept_as_json():
    header = "start_time;call_id;end_time;caller_number;direction;wait_seconds;talk_seconds;outcome;site"
    cdr, (row,) = parse(
        "cdr_20250115.csv",
        " 2025-01-15 09:00:00 ; C1 ;;+33600000000;inbound;3;40;answered;Lyon Nord",
        header=header,
    )
    assert row["call_id"] == "C1" and row["started_at"] == "2025-01-15 09:00:00+01"  # fields are trimmed
    assert row["queue"] == "" and row["agent_name"] == ""  # absent optional columns load as null
    assert json.loads(row["_extra"]) == {"site": "Lyon Nord"}


def test_backslashes_and_tabs_are_escaped_for_copy():
    _, (row,) = parse("cdr_20250115.csv", line("C1", "2025-01-15 09:00:00", agent_name="A\\B\tC"))
    assert row["agent_name"] == "A\\\\B\\tC"  # COPY text format: \\ and \t


def test_a_missing_required_column_or_a_bad_name_stops_the_file():
    with pytest.raises(MissingRequiredColumn, match="required column 'outcome'"):
        CdrFile("cdr_20250115.csv", HEADER.replace(";outcome", "\n").encode(), "b", LOADED_AT)
    with pytest.raises(ValueError, match="not a CDR file name"):
        CdrFile("calls.csv", HEADER.encode(), "b", LOADED_AT)
    with pytest.raises(ValueError, match="empty file"):
        CdrFile("cdr_20250115.csv", b" \n", "b", LOADED_AT)
    with pytest.raises(ValueError, match="ends inside its header line"):
        CdrFile("cdr_20250115.csv", HEADER[:20].encode(), "b", LOADED_AT)
