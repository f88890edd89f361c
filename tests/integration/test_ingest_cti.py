"""CTI file ingestion against the real warehouse: time zones, quarantine, re-deliveries, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext, QuarantineRateExceeded
from cs_analytics.ingestion.cti import load_landing_folder

HEADER = (
    "call_id;start_time;end_time;caller_number;called_number;direction;queue;wait_seconds;talk_seconds;"
    "outcome;agent_id;agent_name"
)
LENIENT = IngestSettings(quarantine_max_rate=1.0)


def cdr(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def row(call_id: str, start: str, end: str, wait: str = "12", talk: str = "240", agent: str = "Claire Martin") -> str:
    return f"{call_id};{start};{end};+33612345678;+33478000000;inbound;SAV;{wait};{talk};answered;201;{agent}"


def ctx(run: str = "r1", end: datetime | None = None) -> BatchContext:
    return BatchContext("cti", "calls", "ingest_cti", run, None, end)


def write(landing: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = landing / name
    p.write_bytes(text.encode(encoding))
    return p


def table_checksum(warehouse) -> tuple:
    return warehouse.query(
        "select count(*), md5(string_agg(call_id || started_at::text || coalesce(ended_at::text, '') || "
        "coalesce(wait_seconds::text, ''), ',' order by call_id)) from raw_cti.calls"
    )[0]


def test_loads_and_converts_paris_time_in_winter_and_summer(warehouse, tmp_path):
    write(tmp_path, "cdr_20250115.csv", cdr(row("c1", "2025-01-15 09:00:00", "2025-01-15 09:04:12")))
    write(tmp_path, "cdr_20250715.csv", cdr(row("c2", "2025-07-15 09:00:00", "2025-07-15 09:04:12")))
    result = load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    assert result.rows_inserted == 2 and result.rows_quarantined == 0
    got = dict(warehouse.query("select call_id, started_at from raw_cti.calls"))
    assert got["c1"] == datetime(2025, 1, 15, 8, 0, tzinfo=UTC)  # CET, +01
    assert got["c2"] == datetime(2025, 7, 15, 7, 0, tzinfo=UTC)  # CEST, +02


def test_autumn_ambiguous_hour_is_resolved_by_row_order(warehouse, tmp_path):
    # 26 Oct 2025: 02:00-03:00 happens twice. Rows are chronological: the clock goes back after 02:50.
    write(
        tmp_path,
        "cdr_20251026.csv",
        cdr(
            row("a1", "2025-10-26 01:55:00", "2025-10-26 01:58:00"),
            row("a2", "2025-10-26 02:10:00", "2025-10-26 02:12:00"),  # first pass, +02
            row("a3", "2025-10-26 02:50:00", "2025-10-26 02:52:00"),  # first pass, +02
            row("a4", "2025-10-26 02:05:00", "2025-10-26 02:07:00"),  # clock went back: second pass, +01
            row("a5", "2025-10-26 02:40:00", "2025-10-26 02:41:00"),  # second pass, +01
            row("a6", "2025-10-26 03:10:00", "2025-10-26 03:11:00"),  # +01
        ),
    )
    load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    got = dict(warehouse.query("select call_id, started_at from raw_cti.calls"))
    assert got["a2"] == datetime(2025, 10, 26, 0, 10, tzinfo=UTC)
    assert got["a3"] == datetime(2025, 10, 26, 0, 50, tzinfo=UTC)
    assert got["a4"] == datetime(2025, 10, 26, 1, 5, tzinfo=UTC)
    assert got["a5"] == datetime(2025, 10, 26, 1, 40, tzinfo=UTC)
    ordered = [r[0] for r in warehouse.query("select call_id from raw_cti.calls order by started_at")]
    assert ordered == ["a1", "a2", "a3", "a4", "a5", "a6"]


def test_bad_lines_go_to_quarantine_with_reason_and_location(warehouse, tmp_path):
    write(
        tmp_path,
        "cdr_20250301.csv",
        cdr(
            row("ok1", "2025-03-01 09:00:00", "2025-03-01 09:01:00"),
            "broken;line;with;too;few;fields",
            row("bad_wait", "2025-03-01 09:05:00", "2025-03-01 09:06:00", wait="12s"),
            row("bad_date", "2025-02-30 09:05:00", "2025-02-30 09:06:00"),
            row("gap", "2025-03-30 02:30:00", "2025-03-30 02:31:00"),  # spring DST gap: does not exist
            row("ok1", "2025-03-01 09:10:00", "2025-03-01 09:11:00"),  # duplicate id in the file
            row("ok2", "2025-03-01 09:20:00", "2025-03-01 09:21:00"),
        ),
    )
    result = load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    assert result.rows_read == 7 and result.rows_inserted == 2 and result.rows_quarantined == 5
    q = dict(warehouse.query("select location, reason from meta.quarantine where source = 'cti'"))
    assert "expected 12 fields, got 6" in q["cdr_20250301.csv:3"]
    assert "wait_seconds" in q["cdr_20250301.csv:4"]
    assert "impossible date" in q["cdr_20250301.csv:5"]
    assert "spring DST gap" in q["cdr_20250301.csv:6"]
    assert "duplicate call_id" in q["cdr_20250301.csv:7"]
    raw = warehouse.query("select raw_record from meta.quarantine where location = 'cdr_20250301.csv:3'")[0][0]
    assert raw == "broken;line;with;too;few;fields"


def test_latin1_lines_are_quarantined_as_encoding_errors(warehouse, tmp_path):
    write(
        tmp_path,
        "cdr_20250302.csv",
        cdr(
            row("l1", "2025-03-02 09:00:00", "2025-03-02 09:01:00", agent="Hélène Durand"),
            row("l2", "2025-03-02 09:02:00", "2025-03-02 09:03:00", agent="Paul Blanc"),
        ),
        encoding="latin-1",
    )
    result = load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    assert result.rows_inserted == 1 and result.rows_quarantined == 1
    reason, raw = warehouse.query("select reason, raw_record from meta.quarantine")[0]
    assert "not valid UTF-8" in reason and "Hélène" in raw
    assert warehouse.query("select encoding_errors from meta.cti_files")[0][0] == 1


def test_quarantine_rate_above_limit_fails_but_keeps_good_rows(warehouse, tmp_path):
    write(tmp_path, "cdr_20250303.csv", cdr(row("g1", "2025-03-03 09:00:00", "2025-03-03 09:01:00"), "garbage"))
    with pytest.raises(QuarantineRateExceeded, match=r"1 of 2 rows \(50.0%\).*above the 1.0% limit"):
        load_landing_folder(warehouse, tmp_path, ctx(), IngestSettings(quarantine_max_rate=0.01))
    assert warehouse.query("select count(*) from raw_cti.calls")[0][0] == 1


def test_redelivered_file_is_recognised_by_content_and_reruns_change_nothing(warehouse, tmp_path):
    content = cdr(
        row("d1", "2025-04-01 10:00:00", "2025-04-01 10:05:00"), row("d2", "2025-04-01 11:00:00", "2025-04-01 11:05:00")
    )
    write(tmp_path, "cdr_20250401.csv", content)
    load_landing_folder(warehouse, tmp_path, ctx("r1"), LENIENT)
    before = table_checksum(warehouse)
    write(tmp_path, "cdr_20250401_resend.csv", content)
    again = load_landing_folder(warehouse, tmp_path, ctx("r2"), LENIENT)
    assert again.duplicate_deliveries == ["cdr_20250401_resend.csv"] and again.rows_inserted == 0
    load_landing_folder(warehouse, tmp_path, ctx("r3"), LENIENT)
    assert table_checksum(warehouse) == before == (2, before[1])
    assert warehouse.query("select original_name from meta.cti_duplicate_deliveries")[0][0] == "cdr_20250401.csv"


def test_corrected_redelivery_replaces_its_day_and_resolves_its_quarantine(warehouse, tmp_path):
    write(
        tmp_path,
        "cdr_20250402.csv",
        cdr(
            row("e1", "2025-04-02 10:00:00", "2025-04-02 10:05:00", wait="5"),
            row("e2", "2025-04-02 10:30:00", "2025-04-02 10:35:00", wait="x"),
        ),
    )
    load_landing_folder(warehouse, tmp_path, ctx("r1"), LENIENT)
    assert warehouse.query("select count(*) from meta.quarantine where resolved_at is null")[0][0] == 1
    write(
        tmp_path,
        "cdr_20250402_v2.csv",
        cdr(
            row("e1", "2025-04-02 10:00:00", "2025-04-02 10:05:00", wait="7"),
            row("e2", "2025-04-02 10:30:00", "2025-04-02 10:35:00"),
        ),
    )
    load_landing_folder(warehouse, tmp_path, ctx("r2"), LENIENT)
    assert warehouse.query("select call_id, wait_seconds from raw_cti.calls order by 1") == [("e1", 7), ("e2", 12)]
    assert warehouse.query("select location, resolved_by from meta.quarantine") == [
        ("cdr_20250402.csv:3", "cti.calls:ingest_cti:r2")
    ]


def test_late_file_is_picked_up_by_the_next_run_and_interval_end_is_respected(warehouse, tmp_path):
    write(tmp_path, "cdr_20250410.csv", cdr(row("n1", "2025-04-10 10:00:00", "2025-04-10 10:01:00")))
    write(tmp_path, "cdr_20250412.csv", cdr(row("n3", "2025-04-12 10:00:00", "2025-04-12 10:01:00")))
    # Run for the interval ending 2025-04-11 00:00 Paris: the 12th belongs to a later run.
    first = load_landing_folder(warehouse, tmp_path, ctx("r1", datetime(2025, 4, 10, 22, 0, tzinfo=UTC)), LENIENT)
    assert first.files_loaded == ["cdr_20250410.csv"]
    write(tmp_path, "cdr_20250411.csv", cdr(row("n2", "2025-04-11 10:00:00", "2025-04-11 10:01:00")))  # late
    second = load_landing_folder(warehouse, tmp_path, ctx("r2", datetime(2025, 4, 12, 22, 0, tzinfo=UTC)), LENIENT)
    assert second.files_loaded == ["cdr_20250411.csv", "cdr_20250412.csv"]
    assert warehouse.query("select count(*) from raw_cti.calls")[0][0] == 3


def test_schema_drift_extra_column_kept_missing_required_column_named(warehouse, tmp_path):
    write(
        tmp_path,
        "cdr_20250501.csv",
        cdr(row("x1", "2025-05-01 10:00:00", "2025-05-01 10:01:00") + ";FR", header=HEADER + ";caller_country"),
    )
    write(
        tmp_path,
        "cdr_20250502.csv",
        cdr(
            "y1;2025-05-02 10:00:00;+33612345678;inbound;1;2;answered",
            header="call_id;start_time;caller_number;direction;wait_seconds;talk_seconds;outcome",
        ),
    )
    with pytest.raises(RuntimeError, match=r"cdr_20250502.csv: cti.calls: required column 'end_time' is missing"):
        load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    assert warehouse.query("select _extra->>'caller_country' from raw_cti.calls where call_id = 'x1'") == [("FR",)]
