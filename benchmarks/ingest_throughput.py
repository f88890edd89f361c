#!/usr/bin/env python3
"""Load throughput of the CTI and ERP ingestion paths at 1 million records.

Measured in one run, on throw-away databases of the local cluster (COPY paths: the median of
three timings each):
  (a) the limit: `psql \\copy` of the same rows, already in COPY form, into an identical table;
  (b) the production paths: cs_analytics.ingestion.cti (parse CSV files + COPY) and
      cs_analytics.ingestion.erp (COPY out of the ERP, COPY into the warehouse), first load
      and re-load (upsert of every row);
  (c) what a naive pipeline does: pandas.read_csv + DataFrame.to_sql.
Targets: production path >= 0.7x raw COPY and >= 10x to_sql.

    scripts/run.sh python benchmarks/ingest_throughput.py [--rows 1000000] [--files 200]

Prints a table and writes benchmarks/results/ingest_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from cs_analytics.config import IngestSettings  # noqa: E402
from cs_analytics.ingestion import cti as cti_path  # noqa: E402
from cs_analytics.ingestion import erp as erp_path  # noqa: E402
from cs_analytics.ingestion.batch import BatchContext  # noqa: E402
from cs_analytics.ingestion.cdr_parser import EXPECTED_COLUMNS, RAW_COLUMNS  # noqa: E402
from cs_analytics.schema import ensure_schema  # noqa: E402
from cs_analytics.warehouse import Warehouse, drop_database  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "ingest_throughput.json"
HEADER = EXPECTED_COLUMNS


def log(msg: str) -> None:
    print(msg, flush=True)


@contextmanager
def scratch_db(server_url: str, prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        drop_database(server_url, name)


def write_cdr_files(folder: Path, rows: int, files: int, seed: int = 7) -> None:
    """`rows` synthetic calls over `files` daily CDR files, in the CTI vendor's format."""
    rng = np.random.default_rng(seed)
    per_file = rows // files
    start_day = date(2024, 1, 1)
    queues = np.array(["SAV", "DEVIS", "RECLAMATION", "FACTURATION", "INFO", "URGENCE"])
    outcomes = np.array(["answered", "missed", "voicemail"])
    n = 0
    for f in range(files):
        day = start_day + timedelta(days=f)
        count = per_file + (rows - per_file * files if f == files - 1 else 0)
        secs = np.sort(rng.integers(8 * 3600, 18 * 3600, count))
        talk = rng.integers(20, 900, count)
        wait = rng.integers(0, 300, count)
        q = queues[rng.integers(0, len(queues), count)]
        o = outcomes[rng.choice(3, count, p=[0.85, 0.1, 0.05])]
        phone = rng.integers(600000000, 799999999, count)
        lines = [";".join(HEADER)]
        base = datetime(day.year, day.month, day.day)
        for i in range(count):
            s = base + timedelta(seconds=int(secs[i]))
            e = s + timedelta(seconds=int(wait[i] + talk[i]))
            ans = o[i] == "answered"
            lines.append(
                f"C{n + i:09d};{s:%Y-%m-%d %H:%M:%S};{e:%Y-%m-%d %H:%M:%S};+33{phone[i]};+33478000000;"
                f"inbound;{q[i]};{wait[i]};{talk[i] if ans else 0};{o[i]};{'201' if ans else ''};"
                f"{'Claire Martin' if ans else ''}"
            )
        n += count
        (folder / f"cdr_{day:%Y%m%d}.csv").write_text("\n".join(lines) + "\n")


def dump_table(url: str, table: str, columns, path: Path) -> Path:
    """The table's rows in COPY text form, to replay with `psql \\copy`."""
    with (
        psycopg.connect(url) as c,
        path.open("wb") as f,
        c.cursor().copy(f"copy {table} ({', '.join(columns)}) to stdout") as cp,
    ):
        for chunk in cp:
            f.write(chunk)
    return path


def psql_copy(url: str, table: str, columns: tuple[str, ...], data_file: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "psql",
            url,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"\\copy {table} ({', '.join(columns)}) from '{data_file}'",
        ],
        check=True,
    )
    return time.perf_counter() - start


REPEATS = 3


def median_seconds(run, reset) -> float:
    """Median of REPEATS timed runs, `reset()` before each: one checkpoint or autovacuum pass
    otherwise swings a single timing by a quarter."""
    times = []
    for _ in range(REPEATS):
        reset()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else float("inf")


def bench_cti(server_url: str, rows: int, files: int, work: Path) -> dict:
    landing = work / "landing"
    landing.mkdir()
    log(f"[cti] writing {rows:,} calls in {files} CDR files ...")
    write_cdr_files(landing, rows, files)
    out: dict = {"rows": rows, "files": files}
    with scratch_db(server_url, "bench_cti") as url:
        wh = Warehouse(url)
        ctx = BatchContext("cti", "calls", "bench", "run1", None, None, datetime.now(UTC))

        def load():
            res = cti_path.load_landing_folder(wh, landing, ctx, IngestSettings(quarantine_max_rate=1.0))
            assert res.rows_inserted == rows, (res.rows_inserted, rows)

        def reset_pipeline():
            ensure_schema(wh)
            wh.execute(cti_path.RAW_DDL)
            wh.execute(
                "truncate raw_cti.calls, meta.cti_duplicate_deliveries, meta.cti_files, meta.cti_held_files, meta.quarantine, "
                "meta.watermarks, meta.load_batches"
            )

        out["pipeline_seconds"] = median_seconds(load, reset_pipeline)

        # The same rows, exactly as loaded, in COPY form: the raw-COPY reference.
        ref = dump_table(url, "raw_cti.calls", RAW_COLUMNS, work / "cti_copy.tsv")
        wh.execute("create table raw_cti.calls_ref (like raw_cti.calls including all)")
        out["raw_copy_seconds"] = median_seconds(
            lambda: psql_copy(url, "raw_cti.calls_ref", RAW_COLUMNS, ref),
            lambda: wh.execute("truncate raw_cti.calls_ref"),
        )

        log("[cti] pandas read_csv + to_sql ...")
        import pandas as pd
        from sqlalchemy import create_engine

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
        start = time.perf_counter()
        for p in sorted(landing.glob("*.csv")):
            df = pd.read_csv(p, sep=";", dtype=str)
            df["started_at"] = pd.to_datetime(df["start_time"]).dt.tz_localize("Europe/Paris", ambiguous="NaT")
            df["ended_at"] = pd.to_datetime(df["end_time"]).dt.tz_localize("Europe/Paris", ambiguous="NaT")
            df.to_sql("calls_naive", engine, schema="raw_cti", if_exists="append", index=False)
        out["to_sql_seconds"] = time.perf_counter() - start
        engine.dispose()
    return out


def bench_erp(server_url: str, rows: int, work: Path) -> dict:
    out: dict = {"rows": rows}
    with scratch_db(server_url, "bench_erp_src") as erp_url, scratch_db(server_url, "bench_erp_wh") as wh_url:
        erp, wh = Warehouse(erp_url), Warehouse(wh_url)
        log(f"[erp] filling dbo.F_DOCLIGNE with {rows:,} lines ...")
        erp.execute(
            """
            create schema dbo;
            create table dbo."F_DOCLIGNE" ("cbMarq" serial primary key, "DO_Domaine" smallint, "DO_Type" smallint,
                "DO_Piece" varchar(13), "DL_Ligne" integer, "CT_Num" varchar(17), "AR_Ref" varchar(19),
                "DL_Design" varchar(69), "DL_Qte" numeric(24,6), "DL_PrixUnitaire" numeric(24,6),
                "DL_MontantHT" numeric(24,6), "DL_PieceDE" varchar(13), "cbModification" timestamp);
            insert into dbo."F_DOCLIGNE" ("DO_Domaine", "DO_Type", "DO_Piece", "DL_Ligne", "CT_Num", "AR_Ref",
                "DL_Design", "DL_Qte", "DL_PrixUnitaire", "DL_MontantHT", "DL_PieceDE", "cbModification")
            select 0, 6, 'FA' || lpad((g / 3)::text, 8, '0'), g % 3, 'CL' || lpad((g % 900)::text, 6, '0'),
                   'ART' || (g % 40), 'Intervention dépannage', 1 + g % 3, 80 + g % 500, (1 + g % 3) * (80 + g % 500),
                   null, timestamp '2024-01-01' + (g || ' seconds')::interval
            from generate_series(1, {rows}) g;
        """.replace("{rows}", str(int(rows)))
        )
        end = datetime(2030, 1, 1, tzinfo=UTC)
        settings = IngestSettings(quarantine_max_rate=1.0)

        def first_load():
            first = erp_path.load_table(
                wh, erp, "F_DOCLIGNE", BatchContext("erp", "F_DOCLIGNE", "bench", "r1", None, end), settings
            )
            assert first.rows_inserted == rows

        def reset_first_load():
            wh.execute("drop table if exists raw_erp.f_docligne")
            wh.execute("drop table if exists meta.watermarks, meta.load_batches cascade")

        out["pipeline_first_load_seconds"] = median_seconds(first_load, reset_first_load)
        erp.execute(
            'update dbo."F_DOCLIGNE" set "DL_Qte" = "DL_Qte" + 1, "cbModification" = "cbModification" + '
            "interval '30 days'"
        )
        start = time.perf_counter()
        second = erp_path.load_table(
            wh, erp, "F_DOCLIGNE", BatchContext("erp", "F_DOCLIGNE", "bench", "r2", None, end), settings
        )
        out["pipeline_upsert_seconds"] = time.perf_counter() - start
        assert second.rows_updated == rows, second

        cols = [c.raw_name for c in erp_path.source_columns(erp, "F_DOCLIGNE")] + list(erp_path.LINEAGE)
        ref = dump_table(wh_url, "raw_erp.f_docligne", cols, work / "erp_copy.tsv")
        wh.execute("create table raw_erp.f_docligne_ref (like raw_erp.f_docligne including all)")
        out["raw_copy_seconds"] = median_seconds(
            lambda: psql_copy(wh_url, "raw_erp.f_docligne_ref", tuple(cols), ref),
            lambda: wh.execute("truncate raw_erp.f_docligne_ref"),
        )

        log("[erp] pandas read_sql + to_sql ...")
        import pandas as pd
        from sqlalchemy import create_engine

        src = create_engine(erp_url.replace("postgresql://", "postgresql+psycopg2://"))
        dst = create_engine(wh_url.replace("postgresql://", "postgresql+psycopg2://"))
        start = time.perf_counter()
        for chunk in pd.read_sql('select * from dbo."F_DOCLIGNE"', src, chunksize=100_000):
            chunk.to_sql("f_docligne_naive", dst, schema="raw_erp", if_exists="append", index=False)
        out["to_sql_seconds"] = time.perf_counter() - start
        src.dispose()
        dst.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args()
    server_url = os.environ["WAREHOUSE_URL"]
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        cti = bench_cti(server_url, args.rows, args.files, Path(tmp))
        erp = bench_erp(server_url, args.rows, Path(tmp))

    table = []
    for name, r, pipe_key in (
        ("CTI files -> raw_cti.calls", cti, "pipeline_seconds"),
        ("ERP first load -> raw_erp", erp, "pipeline_first_load_seconds"),
        ("ERP re-load (upsert all rows)", erp, "pipeline_upsert_seconds"),
    ):
        pipe, raw, naive = (
            rate(r["rows"], r[pipe_key]),
            rate(r["rows"], r["raw_copy_seconds"]),
            rate(r["rows"], r["to_sql_seconds"]),
        )
        table.append(
            {
                "path": name,
                "rows": r["rows"],
                "pipeline_rows_per_s": round(pipe),
                "raw_copy_rows_per_s": round(raw),
                "to_sql_rows_per_s": round(naive),
                "vs_raw_copy": round(pipe / raw, 2),
                "vs_to_sql": round(pipe / naive, 1),
                "meets_targets": pipe / raw >= 0.7 and pipe / naive >= 10,
            }
        )
    print(
        f"\n{'path':<32} {'rows':>9} {'pipeline/s':>11} {'raw COPY/s':>11} {'to_sql/s':>9} "
        f"{'x raw':>6} {'x to_sql':>8}  targets (>=0.7x, >=10x)"
    )
    for t in table:
        print(
            f"{t['path']:<32} {t['rows']:>9,} {t['pipeline_rows_per_s']:>11,} {t['raw_copy_rows_per_s']:>11,} "
            f"{t['to_sql_rows_per_s']:>9,} {t['vs_raw_copy']:>6} {t['vs_to_sql']:>8}  "
            f"{'met' if t['meets_targets'] else 'NOT met'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "results": table,
                "raw_seconds": {"cti": cti, "erp": erp},
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
