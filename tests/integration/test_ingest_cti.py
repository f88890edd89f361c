"""CTI file ingestion against the real warehouse: time zones, quarantine, re-deliveries, idempotence."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext, QuarantineRateExceeded
from cs_analytics.ingestion.cti import CtiFilesHeld, accept_files, cdr_file_ready, load_landing_folder
from cs_analytics.ingestion.cti import main as cti_main

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


# ------------------------------------------------------------------ issue 9: nothing lost, nothing wrong
def day_rows(warehouse, day: str) -> list[tuple]:
    return warehouse.query("select call_id, wait_seconds from raw_cti.calls where _file_date = %s order by 1", (day,))


def settled(path: Path) -> Path:
    """As if written a day ago: an empty or unterminated file is no longer being written."""
    old = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    os.utime(path, (old, old))
    return path


def calls(day: str, n: int, wait: str = "12") -> list[str]:
    return [
        row(f"{day.replace('-', '')}{i:05d}", f"{day} 10:{i:02d}:00", f"{day} 10:{i:02d}:30", wait=wait)
        for i in range(n)
    ]


def test_a_redelivery_that_drops_rows_is_held_as_a_file_until_accepted(warehouse, tmp_path, monkeypatch, capsys):
    write(tmp_path, "cdr_20250601.csv", cdr(*calls("2025-06-01", 40)))
    write(tmp_path, "cdr_20250602.csv", cdr(*calls("2025-06-02", 7)))
    load_landing_folder(warehouse, tmp_path, ctx("r1"), LENIENT)
    # A small correction (1 of 40 calls withdrawn: 2.5%) replaces its day and is logged with its counts.
    write(tmp_path, "cdr_20250601_v2.csv", cdr(*calls("2025-06-01", 40)[:39]))
    # A header-only re-delivery and one with 5 of the day's 7 calls would erase data: held, not loaded.
    write(tmp_path, "cdr_20250601_v3.csv", cdr())
    write(tmp_path, "cdr_20250602_v2.csv", cdr(*calls("2025-06-02", 5)))
    with pytest.raises(CtiFilesHeld, match=r"cdr_20250602_v2.csv.*7 -> 5 rows.*accept") as held:
        load_landing_folder(warehouse, tmp_path, ctx("r2"), LENIENT)
    assert "cdr_20250601_v3.csv" in str(held.value) and "empty" in str(held.value)
    assert len(day_rows(warehouse, "2025-06-01")) == 39 and len(day_rows(warehouse, "2025-06-02")) == 7
    assert warehouse.query(
        "select file_name, rows_before, rows_after, status, length(sha256) from meta.cti_held_files order by 1"
    ) == [("cdr_20250601_v3.csv", 39, 0, "held", 64), ("cdr_20250602_v2.csv", 7, 5, "held", 64)]
    assert warehouse.query("select file_name, rows_before, rows_loaded, accepted_by from meta.cti_files "
                           "where rows_before is not null") == [("cdr_20250601_v2.csv", 40, 39, None)]  # fmt: skip

    # A later run does not load them either; the documented command accepts one.
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.dsn.replace("postgresql://", "postgres://", 1))
    assert cti_main(["held"]) == 0
    assert "cdr_20250602_v2.csv: replacement drops 2 of the day's 7 rows" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no held or loaded file named cdr_20250602_v9.csv"):
        cti_main(["accept", "cdr_20250602_v9.csv"])
    assert cti_main(["accept", "cdr_20250602_v2.csv", "--by", "claire"]) == 0
    result = load_landing_folder(warehouse, tmp_path, ctx("r3"), LENIENT)
    assert result.files_loaded == ["cdr_20250602_v2.csv"] and len(day_rows(warehouse, "2025-06-02")) == 5
    assert len(day_rows(warehouse, "2025-06-01")) == 39  # v3 is still held
    assert warehouse.query(
        "select rows_before, rows_loaded, accepted_by from meta.cti_files where file_name = 'cdr_20250602_v2.csv'"
    ) == [(7, 5, "claire")]
    assert warehouse.query("select file_name, status from meta.cti_held_files order by 1") == [
        ("cdr_20250601_v3.csv", "held"),
        ("cdr_20250602_v2.csv", "loaded"),
    ]


def test_a_file_still_being_written_waits_then_its_cut_line_is_quarantined_as_truncated(warehouse, tmp_path):
    settings = IngestSettings(quarantine_max_rate=1.0, cti_partial_file_wait=timedelta(minutes=30))
    whole = cdr(row("t1", "2025-06-03 09:00:00", "2025-06-03 09:01:00"),
                row("t2", "2025-06-03 09:05:00", "2025-06-03 09:06:00", agent="Julien Moreau"))  # fmt: skip
    path = write(tmp_path, "cdr_20250603.csv", whole[: whole.index("Julien") + len("Julien")])
    now = datetime.now(UTC)
    assert not cdr_file_ready(path, now, settings.cti_partial_file_wait)
    result = load_landing_folder(warehouse, tmp_path, ctx("r1"), settings)
    assert result.waiting_files == ["cdr_20250603.csv"] and result.files_loaded == []
    assert warehouse.query("select count(*) from raw_cti.calls")[0][0] == 0
    # Unchanged past the deadline: the writer has stopped. The complete lines load, the cut one is quarantined.
    old = (now - timedelta(minutes=31)).timestamp()
    os.utime(path, (old, old))
    assert cdr_file_ready(path, now, settings.cti_partial_file_wait)
    load_landing_folder(warehouse, tmp_path, ctx("r2"), settings)
    assert warehouse.query("select call_id, agent_name from raw_cti.calls") == [("t1", "Claire Martin")]
    reason, raw = warehouse.query(
        "select reason, raw_record from meta.quarantine where location = 'cdr_20250603.csv:3'"
    )[0]
    assert reason.startswith("truncated") and raw.endswith(";Julien")
    complete = write(tmp_path, "cdr_20250604.csv", cdr(row("u1", "2025-06-04 09:00:00", "2025-06-04 09:01:00")))
    assert cdr_file_ready(complete, now, settings.cti_partial_file_wait)


def test_a_retry_reaches_the_same_verdict_and_the_batch_log_keeps_the_first_attempt(warehouse, tmp_path):
    write(tmp_path, "cdr_20250605.csv", cdr(row("g1", "2025-06-05 09:00:00", "2025-06-05 09:01:00"), "garbage"))
    settled(write(tmp_path, "cdr_20250606.csv", ""))
    strict = IngestSettings(quarantine_max_rate=0.01)
    for attempt in (1, 2):  # the retry of the same run (same batch id)
        with pytest.raises(RuntimeError, match=r"cdr_20250606.csv: empty file") as failure:
            load_landing_folder(warehouse, tmp_path, ctx("r1"), strict)
        assert "1 of 2 rows (50.0%)" in str(failure.value), attempt
    assert warehouse.query("select rows_read, rows_inserted, rows_quarantined, jsonb_array_length(detail->'attempts') "
                           "from meta.load_batches") == [(2, 1, 1, 2)]  # fmt: skip
    first, second = warehouse.query("select detail->'attempts' from meta.load_batches")[0][0]
    assert (first["rows_read"], first["rows_quarantined"]) == (2, 1) and second["rows_read"] == 0
    # Accepted, the file no longer fails its run; a new day's run is not failed by an older verdict either.
    accept_files(warehouse, ["cdr_20250605.csv", "cdr_20250606.csv"], "test")
    load_landing_folder(warehouse, tmp_path, ctx("r1"), strict)
    write(tmp_path, "cdr_20250607.csv", cdr(row("h1", "2025-06-07 09:00:00", "2025-06-07 09:01:00")))
    assert load_landing_folder(warehouse, tmp_path, ctx("r2"), strict).files_loaded == ["cdr_20250607.csv"]


def test_windows_1252_files_load_and_only_really_corrupt_bytes_are_quarantined(warehouse, tmp_path):
    names = ("Hélène Durand", "Cœur Lefèvre", "Awa N’Diaye")  # œ and ’ exist in Windows-1252, not in Latin-1
    cp1252 = cdr(
        *[row(f"w{i}", f"2025-06-08 09:0{i}:00", f"2025-06-08 09:0{i}:30", agent=n) for i, n in enumerate(names)]
    )
    write(tmp_path, "cdr_20250608.csv", cp1252, encoding="cp1252")
    write(
        tmp_path,
        "cdr_20250609.csv",
        "\ufeff" + cdr(row("b1", "2025-06-09 09:00:00", "2025-06-09 09:01:00", agent="Zoé")),
    )
    # A UTF-8 file with one corrupt byte stays UTF-8: only that line is quarantined, its accents load right.
    (tmp_path / "cdr_20250610.csv").write_bytes(
        cdr(row("c1", "2025-06-10 09:00:00", "2025-06-10 09:01:00", agent="Loïc Bérard"),
            row("c2", "2025-06-10 09:02:00", "2025-06-10 09:03:00", agent="Paul XX")).encode().replace(b"XX", b"\xff")
    )  # fmt: skip
    # A Windows-1252 file with a byte that is no character there (0x81) or a control character.
    (tmp_path / "cdr_20250611.csv").write_bytes(
        cdr(row("d1", "2025-06-11 09:00:00", "2025-06-11 09:01:00", agent="Agnès YY"),
            row("d2", "2025-06-11 09:02:00", "2025-06-11 09:03:00", agent="Noël ZZ"),
            row("d3", "2025-06-11 09:04:00", "2025-06-11 09:05:00", agent="Anaïs Roy")).encode("cp1252")
        .replace(b"YY", b"\x81").replace(b"ZZ", b"\x00")
    )  # fmt: skip
    # A UTF-8 file cut inside a two-byte character: its last line is truncated, the file is not Latin-1.
    (tmp_path / "cdr_20250612.csv").write_bytes(
        cdr(row("e1", "2025-06-12 09:00:00", "2025-06-12 09:01:00", agent="Éric"),
            row("e2", "2025-06-12 09:02:00", "2025-06-12 09:03:00", agent="Hélène")).encode().rstrip(b"\n")[:-6]
    )  # fmt: skip
    settled(tmp_path / "cdr_20250612.csv")
    load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    agents = dict(warehouse.query("select call_id, agent_name from raw_cti.calls"))
    assert [agents[f"w{i}"] for i in range(3)] == list(names)
    assert (agents["b1"], agents["c1"], agents["d3"], agents["e1"]) == ("Zoé", "Loïc Bérard", "Anaïs Roy", "Éric")
    assert set(agents) == {"w0", "w1", "w2", "b1", "c1", "d3", "e1"}
    assert dict(warehouse.query("select file_name, encoding from meta.cti_files")) == {
        "cdr_20250608.csv": "windows-1252",
        "cdr_20250609.csv": "utf-8-sig",
        "cdr_20250610.csv": "utf-8",
        "cdr_20250611.csv": "windows-1252",
        "cdr_20250612.csv": "utf-8",
    }
    reasons = dict(warehouse.query("select location, reason from meta.quarantine"))
    assert set(reasons) == {"cdr_20250610.csv:3", "cdr_20250611.csv:2", "cdr_20250611.csv:3", "cdr_20250612.csv:3"}
    assert "0xff" in reasons["cdr_20250610.csv:3"] and "0x81" in reasons["cdr_20250611.csv:2"]
    assert "control character" in reasons["cdr_20250611.csv:3"]
    assert reasons["cdr_20250612.csv:3"].startswith("truncated") and "Latin-1" not in reasons["cdr_20250612.csv:3"]


def test_duplicates_are_keyed_by_day_and_resending_the_original_restores_the_day(warehouse, tmp_path):
    write(tmp_path, "cdr_20250613.csv", cdr())  # a quiet day: only the header
    write(tmp_path, "cdr_20250614.csv", cdr())  # the same bytes for another day: not a duplicate of the 13th
    original = cdr(*calls("2025-06-15", 3, wait="5"))
    write(tmp_path, "cdr_20250615.csv", original)
    write(tmp_path, "cdr_20250615_v2.csv", cdr(*calls("2025-06-15", 3, wait="9")))
    first = load_landing_folder(warehouse, tmp_path, ctx("r1"), LENIENT)
    assert first.files_loaded == ["cdr_20250613.csv", "cdr_20250614.csv", "cdr_20250615.csv", "cdr_20250615_v2.csv"]
    assert first.duplicate_deliveries == []
    assert {w for _, w in day_rows(warehouse, "2025-06-15")} == {9}
    write(tmp_path, "cdr_20250615_restore.csv", original)
    second = load_landing_folder(warehouse, tmp_path, ctx("r2"), LENIENT)
    assert second.files_loaded == ["cdr_20250615_restore.csv"] and second.duplicate_deliveries == []
    assert {w for _, w in day_rows(warehouse, "2025-06-15")} == {5}
    write(tmp_path, "cdr_20250615_again.csv", original)  # what the day holds now: a duplicate
    third = load_landing_folder(warehouse, tmp_path, ctx("r3"), LENIENT)
    assert third.duplicate_deliveries == ["cdr_20250615_again.csv"] and third.files_loaded == []
    assert warehouse.query("select original_name from meta.cti_duplicate_deliveries") == [("cdr_20250615_restore.csv",)]


def test_an_empty_file_is_held_the_others_load_and_later_runs_pass(warehouse, tmp_path):
    settled(write(tmp_path, "cdr_20250616.csv", ""))
    write(tmp_path, "cdr_20250617.csv", cdr(row("k1", "2025-06-17 09:00:00", "2025-06-17 09:01:00")))
    with pytest.raises(CtiFilesHeld, match=r"cdr_20250616.csv: empty file"):
        load_landing_folder(warehouse, tmp_path, ctx("r1"), LENIENT)
    assert warehouse.query("select call_id from raw_cti.calls") == [("k1",)]
    assert warehouse.query("select file_name, reason, status from meta.cti_held_files") == [
        ("cdr_20250616.csv", "empty file", "held")
    ]
    write(tmp_path, "cdr_20250618.csv", cdr(row("k2", "2025-06-18 09:00:00", "2025-06-18 09:01:00")))
    later = load_landing_folder(warehouse, tmp_path, ctx("r2"), LENIENT)  # the held file is reported, not re-failed
    assert later.files_loaded == ["cdr_20250618.csv"] and later.detail["still_held"] == {
        "cdr_20250616.csv": "empty file"
    }


def test_the_repeated_autumn_hour_follows_each_calls_own_end_time_and_duration(warehouse, tmp_path):
    write(
        tmp_path,
        "cdr_20251026.csv",
        cdr(
            # Before the switch (+02): ends in the repeated hour, still summer time.
            row("2025102600001", "2025-10-26 01:59:30", "2025-10-26 02:01:33", wait="23", talk="100"),
            # The file's first call in the repeated hour is already after the switch: row order alone
            # reads it as summer time; its end at 03:00:24 (+01) and its 123 s say winter time.
            row("2025102600006", "2025-10-26 02:58:21", "2025-10-26 03:00:24", wait="23", talk="100"),
            row("2025102600007", "2025-10-26 03:10:00", "2025-10-26 03:11:00", wait="10", talk="50"),
        ),
    )
    # 27 Oct 2024: a 62-minute call from 02:10 summer time to 02:12 winter time, across the switch.
    write(tmp_path, "cdr_20241027.csv", cdr(row("2024102700001", "2024-10-27 02:10:00", "2024-10-27 02:12:00",
                                                wait="20", talk="3700")))  # fmt: skip
    write(tmp_path, "cdr_20250330.csv", cdr(row("s1", "2025-03-30 02:30:00", "2025-03-30 02:31:00"),
                                            row("s2", "2025-03-30 01:59:00", "2025-03-30 03:00:30", wait="10", talk="80")))  # fmt: skip
    load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    got = {c: (s, int((e - s).total_seconds())) for c, s, e in warehouse.query(
        "select call_id, started_at, ended_at from raw_cti.calls")}  # fmt: skip
    assert got["2025102600001"] == (datetime(2025, 10, 25, 23, 59, 30, tzinfo=UTC), 123)
    assert got["2024102700001"] == (datetime(2024, 10, 27, 0, 10, tzinfo=UTC), 3720)
    assert got["2025102600006"] == (datetime(2025, 10, 26, 1, 58, 21, tzinfo=UTC), 123)
    assert got["2025102600007"] == (datetime(2025, 10, 26, 2, 10, tzinfo=UTC), 60)
    assert got["s2"] == (
        datetime(2025, 3, 30, 0, 59, tzinfo=UTC),
        90,
    )  # across the spring gap: 01:59 +01 -> 03:00:30 +02
    assert (
        "spring DST gap"
        in warehouse.query("select reason from meta.quarantine where location = 'cdr_20250330.csv:2'")[0][0]
    )


def test_a_warehouse_whose_cdr_files_were_keyed_by_hash_alone_is_upgraded(warehouse, tmp_path):
    warehouse.execute(
        """
        create schema meta;
        create table meta.cti_files (sha256 text primary key, file_name text not null, file_date date,
            size_bytes bigint not null, encoding_errors integer not null default 0, rows_loaded integer not null
            default 0, rows_quarantined integer not null default 0, batch_id text not null,
            loaded_at timestamptz not null default now());
        create table meta.cti_duplicate_deliveries (file_name text primary key,
            sha256 text not null references meta.cti_files (sha256), original_name text not null,
            batch_id text not null, seen_at timestamptz not null default now());
        insert into meta.cti_files (sha256, file_name, file_date, size_bytes, batch_id)
        values ('abc', 'cdr_20250101.csv', '2025-01-01', 10, 'old');
        """
    )
    write(tmp_path, "cdr_20250619.csv", cdr())
    write(tmp_path, "cdr_20250620.csv", cdr())  # the same content for another day: needs the new key
    load_landing_folder(warehouse, tmp_path, ctx(), LENIENT)
    assert warehouse.query("select file_name, rows_read from meta.cti_files order by 1") == [
        ("cdr_20250101.csv", None),
        ("cdr_20250619.csv", 0),
        ("cdr_20250620.csv", 0),
    ]
