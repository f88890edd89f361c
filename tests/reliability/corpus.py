"""Feeds one input of the bad-input corpus (corpus/manifest.yaml) through its source's production
loader, beside unrelated good data, and reports what became of it. Shared by the test and by
scripts/reliability_report.py, which writes the table kept in the README."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.warehouse import Warehouse

CORPUS = Path(__file__).parent / "corpus"
# Lenient on purpose: the corpus checks what each input becomes, not the run's quarantine-rate verdict.
SETTINGS = IngestSettings(quarantine_max_rate=1.0, cti_partial_file_wait=timedelta(0))
TOKEN = "corpus-token"
COMPANION_CDR = "cdr_20250110.csv"


@dataclass
class Case:
    source: str
    input: str
    what: str
    expect: str
    loaded: int = 0
    quarantined: int = 0
    reason: str | None = None
    error: str | None = None
    check: list | None = None
    names: str | None = None  # what a refusal's message must name, when not the file or `error`'s prefix
    dropped: int = 0  # rows lost (a known gap)
    gap: str | None = None

    @property
    def id(self) -> str:
        return self.input


@dataclass
class Outcome:
    """What the loader did with the input: rows of it loaded and quarantined, the error it raised."""

    rows_read: int | None = None  # what the loader says it read of this input (None: refused before reading)
    loaded: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    companions_expected: int = 0
    companions_loaded: int = 0
    check_value: Any = None
    batch_recorded: bool | None = None  # meta.load_batches holds the batch

    @property
    def verdict(self) -> str:
        if self.error:
            return "refused"
        return "quarantined" if self.quarantined else "loaded"


def cases() -> list[Case]:
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
    return [Case(source=source, **entry) for source, entries in manifest.items() for entry in entries]


def reset(warehouse: Warehouse, source_db_url: str) -> None:
    """Empty both databases: raw schemas and the Sage tables dropped, meta tables truncated."""
    with warehouse.connect(autocommit=True) as conn:
        conn.execute("drop schema if exists raw_cti, raw_crm, raw_app, raw_erp cascade")
        tables = [
            r[0]
            for r in conn.execute(
                "select format('%I.%I', schemaname, tablename) from pg_tables "
                "where schemaname = 'meta' and tablename <> 'schema_version'"
            )
        ]
        if tables:
            conn.execute(f"truncate {', '.join(tables)}")
    with psycopg.connect(source_db_url, autocommit=True) as conn:
        conn.execute("drop schema if exists dbo cascade")


def run_case(case: Case, warehouse: Warehouse, source_db_url: str | None, tmp: Path) -> Outcome:
    runner = {"cti": _run_cti, "crm": _run_crm, "mobile_app": _run_app, "erp": _run_erp}[case.source]
    outcome = runner(case, warehouse, source_db_url, tmp)
    if warehouse.query("select to_regclass('meta.load_batches') is not null")[0][0]:
        outcome.batch_recorded = bool(
            warehouse.query("select count(*) from meta.load_batches where run_id = 'corpus'")[0][0]
        )
    else:
        outcome.batch_recorded = False
    if case.check:
        outcome.check_value = warehouse.query(case.check[0])[0][0]
    return outcome


def _quarantine(warehouse: Warehouse, like: str) -> list[str]:
    if not warehouse.query("select to_regclass('meta.quarantine') is not null")[0][0]:
        return []
    return [r[0] for r in warehouse.query("select reason from meta.quarantine where location like %s", (like,))]


# ----------------------------------------------------------------------------- CTI: files in a landing folder
def _run_cti(case: Case, warehouse: Warehouse, _src: str, tmp: Path) -> Outcome:
    from cs_analytics.ingestion.cti import load_landing_folder

    landing = tmp / "landing"
    landing.mkdir()
    name = Path(case.input).name
    shutil.copy(CORPUS / "cti" / COMPANION_CDR, landing / COMPANION_CDR)
    shutil.copy(CORPUS / case.input, landing / name)
    old = datetime.now(UTC).timestamp() - 3600  # delivered an hour ago: a cut file's writer has stopped
    for p in landing.iterdir():
        os.utime(p, (old, old))
    out = Outcome(companions_expected=3)
    try:
        load_landing_folder(warehouse, landing, BatchContext("cti", "calls", "ingest_cti", "corpus"), SETTINGS)
    except Exception as exc:  # noqa: BLE001 - the outcome is what we observe
        out.error = f"{type(exc).__name__}: {exc}"
    stats = warehouse.query(
        "select rows_read, rows_loaded, rows_quarantined from meta.cti_files where file_name = %s", (name,)
    )
    if stats:
        out.rows_read, out.loaded, out.quarantined = stats[0]
        # Only a refusal is an error here: CtiFilesHeld for this input is the refusal itself.
        out.error = None
    held = warehouse.query("select reason from meta.cti_held_files where file_name = %s", (name,))
    if held:
        out.error = (out.error or "") + f" [held: {held[0][0]}]"
    out.reasons = _quarantine(warehouse, f"{name}:%")
    out.companions_loaded = warehouse.query(
        "select count(*) from raw_cti.calls where _file_name = %s", (COMPANION_CDR,)
    )[0][0]
    return out


# ----------------------------------------------------------------------------- API sources: the simulators
def _serve(server):
    from simulators.httpbase import serve_in_thread

    return serve_in_thread(server)


def _session(url: str):
    from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy

    return ApiSession("corpus", url, TOKEN, 10.0, RetryPolicy(max_retries=2, sleep=lambda s: None))


def _run_crm(case: Case, warehouse: Warehouse, _src: str, tmp: Path) -> Outcome:
    from cs_analytics.ingestion.crm import HubSpotClient, load_object
    from simulators import crm_api, stores

    body = json.loads((CORPUS / case.input).read_text(encoding="utf-8"))
    drop = set(body.get("drop_from_catalogue", [])) if isinstance(body, dict) else set()
    records = body["records"] if isinstance(body, dict) else body
    companions = json.loads((CORPUS / "crm" / "companions.json").read_text(encoding="utf-8"))
    path = tmp / "crm.sqlite"
    conn = stores.connect_crm(path)
    # Inserted as given (not through the simulator's writer, which makes every value a string):
    # the corpus holds what a misbehaving source would serve. Only the store's own modification
    # column is kept in its format: it is the system timestamp the search index reads.
    conn.executemany(
        "insert into objects (object_type, id, properties, created_at, updated_at) values ('contacts', ?, ?, ?, ?)",
        [
            (r["id"], json.dumps(r["properties"]), r["created_at"], stores.canonical_instant(r["updated_at"]))
            for r in companions + records
        ],
    )
    names = {p for r in companions + records for p in r["properties"]} | {"hs_lastmodifieddate"}
    conn.executemany(
        "insert into properties (object_type, name, type) values ('contacts', ?, 'string')",
        [(n,) for n in sorted(names - drop)],
    )
    conn.commit()
    conn.close()
    server = crm_api.make_server(store_path=path, token=TOKEN, rate_limit_per_10s=0, search_per_second=0)
    ids = [r["id"] for r in records]
    return _run_api(
        warehouse,
        server,
        "crm",
        "contacts",
        "raw_crm.contacts",
        "/crm/v3/objects/contacts",
        ids,
        len(companions),
        lambda url, ctx: load_object(warehouse, HubSpotClient(_session(url)), "contacts", ctx, SETTINGS),
    )


def _run_app(case: Case, warehouse: Warehouse, _src: str, tmp: Path) -> Outcome:
    from cs_analytics.ingestion.mobile_app import MobileAppClient, load_resource
    from simulators import app_api, stores

    records = json.loads((CORPUS / case.input).read_text(encoding="utf-8"))
    companions = json.loads((CORPUS / "mobile_app" / "companions.json").read_text(encoding="utf-8"))
    path = tmp / "app.sqlite"
    conn = stores.connect_app(path)
    # Stored as served, NaN included; the store's own key is the row's position, so an id served twice can be.
    conn.executemany(
        'insert into "interventions" (id, updated_at, payload) values (?, ?, ?)',
        [
            (f"row{i:04d}", r.get("updated_at") or "", json.dumps(r, ensure_ascii=False))
            for i, r in enumerate(companions + records)
        ],
    )
    conn.commit()
    conn.close()
    server = app_api.make_server(store_path=path, token=TOKEN, rate_limit_per_10s=0)
    ids = sorted({str(r["id"]) for r in records})
    return _run_api(
        warehouse,
        server,
        "mobile_app",
        "interventions",
        "raw_app.interventions",
        "/api/v1/interventions",
        ids,
        len(companions),
        lambda url, ctx: load_resource(warehouse, MobileAppClient(_session(url)), "interventions", ctx, SETTINGS),
    )


def _run_api(warehouse, server, source, obj, table, endpoint, ids, n_companions, load) -> Outcome:
    out = Outcome(companions_expected=n_companions)
    ctx = BatchContext(source, obj, f"ingest_{source}", "corpus", None, datetime.now(UTC) + timedelta(hours=1))
    with _serve(server) as url:
        try:
            result = load(url, ctx)
            out.rows_read = result.rows_read - n_companions
        except Exception as exc:  # noqa: BLE001
            out.error = f"{type(exc).__name__}: {exc}"
    exists = warehouse.query("select to_regclass(%s) is not null", (table,))[0][0]
    if exists:
        out.loaded = warehouse.query(f"select count(*) from {table} where id = any(%s)", (ids,))[0][0]
        out.companions_loaded = warehouse.query(f"select count(*) from {table} where not (id = any(%s))", (ids,))[0][0]
    rows = (
        warehouse.query(
            "select reason from meta.quarantine where source = %s and (location = any(%s) or location like any(%s))",
            (source, [f"{endpoint}#{i}" for i in ids], [f"{endpoint}#{i}@%" for i in ids]),
        )
        if warehouse.query("select to_regclass('meta.quarantine') is not null")[0][0]
        else []
    )
    out.reasons = [r[0] for r in rows]
    out.quarantined = len(rows)
    return out


# ----------------------------------------------------------------------------- ERP: a Sage database
SAGE_DDL = """
create schema dbo;
create table dbo."F_COMPTET" (
    "cbMarq" serial, "CT_Num" varchar(17), "CT_Intitule" varchar(69), "CT_Telephone" varchar(21),
    "CT_EMail" varchar(69), "CT_Sommeil" smallint, "cbModification" timestamp
);
insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", "cbModification")
values ('CL000001', 'Dupont', '0478000000', 'a@b.fr', 0, '2025-05-20 10:00:00'),
       ('CL000002', 'Martin', '0478000001', 'b@b.fr', 0, '2025-05-21 10:00:00'),
       ('CL000003', 'Bernard', '0478000002', 'c@b.fr', 1, '2025-05-22 10:00:00');
"""
ERP_COMPANIONS = ("CL000001", "CL000002", "CL000003")


def _run_erp(case: Case, warehouse: Warehouse, source_db_url: str, _tmp: Path) -> Outcome:
    from cs_analytics.ingestion.erp import load_table

    with psycopg.connect(source_db_url, autocommit=True) as conn:
        conn.execute(SAGE_DDL)
        conn.execute((CORPUS / case.input).read_text(encoding="utf-8"))
        n_rows = conn.execute('select count(*) from dbo."F_COMPTET"').fetchone()[0]
    out = Outcome(companions_expected=len(ERP_COMPANIONS))
    ctx = BatchContext("erp", "F_COMPTET", "ingest_erp", "corpus", None, datetime.now(UTC) + timedelta(hours=1))
    try:
        result = load_table(warehouse, Warehouse(source_db_url), "F_COMPTET", ctx, SETTINGS)
        out.rows_read = result.rows_read - len(ERP_COMPANIONS)
    except Exception as exc:  # noqa: BLE001
        out.error = f"{type(exc).__name__}: {exc}"
    out.input_rows = n_rows - len(ERP_COMPANIONS)
    if warehouse.query("select to_regclass('raw_erp.f_comptet') is not null")[0][0]:
        total, companions = warehouse.query(
            "select count(*), count(*) filter (where ct_num = any(%s)) from raw_erp.f_comptet", (list(ERP_COMPANIONS),)
        )[0]
        out.loaded, out.companions_loaded = total - companions, companions
    out.reasons = _quarantine(warehouse, "dbo.F_COMPTET#%")
    out.quarantined = len(out.reasons)
    return out
