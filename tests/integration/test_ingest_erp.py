"""ERP (Sage 100 layout) ingestion against two real databases: incremental reads, lookback,
idempotence, schema drift and quarantine."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion.batch import BatchContext, MissingRequiredColumn
from cs_analytics.ingestion.erp import load_table
from cs_analytics.warehouse import Warehouse

SETTINGS = IngestSettings(quarantine_max_rate=1.0)

SAGE_DDL = """
create schema dbo;
create table dbo."F_COMPTET" (
    "cbMarq" serial, "CT_Num" varchar(17), "CT_Intitule" varchar(69), "CT_Telephone" varchar(21),
    "CT_EMail" varchar(69), "CT_Sommeil" smallint, "cbModification" timestamp
);
"""


@pytest.fixture
def erp(second_db_url: str) -> Warehouse:
    with psycopg.connect(second_db_url, autocommit=True) as conn:
        conn.execute(SAGE_DDL)
    return Warehouse(second_db_url)


def add_customer(erp: Warehouse, num: str | None, name: str, modified: str) -> None:
    erp.execute(
        'insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", '
        '"cbModification") values (%s, %s, %s, %s, 0, %s)',
        (num, name, "04 78 00 00 00", "a@b.fr", modified),
    )


def ctx(run: str, end: datetime, start: datetime | None = None) -> BatchContext:
    return BatchContext("erp", "F_COMPTET", "ingest_erp", run, start, end)


def checksum(warehouse: Warehouse) -> tuple:
    return warehouse.query(
        "select count(*), md5(string_agg(ct_num || ct_intitule || cbmodification::text, ',' "
        "order by ct_num)) from raw_erp.f_comptet"
    )[0]


DAY1_END = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)  # 2025-06-02 00:00 Paris
DAY2_END = datetime(2025, 6, 2, 22, 0, tzinfo=UTC)


def test_first_load_then_incremental_upsert_is_idempotent(warehouse, erp):
    add_customer(erp, "CL000001", "Dupont", "2025-05-20 10:00:00")
    add_customer(erp, "CL000002", "Martin", "2025-06-01 15:30:00")
    add_customer(erp, "CL000003", "Future", "2025-06-02 09:00:00")  # after the first interval
    first = load_table(warehouse, erp, "F_COMPTET", ctx("r1", DAY1_END), SETTINGS)
    assert (first.rows_read, first.rows_inserted) == (2, 2)
    # Sage's local time became an instant: 15:30 Paris in June is 13:30 UTC.
    assert first.watermark == datetime(2025, 6, 1, 13, 30, tzinfo=UTC)

    erp.execute(
        'update dbo."F_COMPTET" set "CT_Intitule" = \'Martin SARL\', "cbModification" = '
        "'2025-06-02 11:00:00' where \"CT_Num\" = 'CL000002'"
    )
    second = load_table(warehouse, erp, "F_COMPTET", ctx("r2", DAY2_END, DAY1_END), SETTINGS)
    assert (second.rows_inserted, second.rows_updated) == (1, 1)
    assert warehouse.query("select ct_intitule from raw_erp.f_comptet where ct_num = 'CL000002'") == [("Martin SARL",)]

    before = checksum(warehouse)
    for run in ("r2-retry", "r2-again"):
        again = load_table(warehouse, erp, "F_COMPTET", ctx(run, DAY2_END, DAY1_END), SETTINGS)
        assert again.rows_inserted == 0 and again.rows_updated == 0 and again.rows_unchanged == again.rows_read
    assert checksum(warehouse) == before and before[0] == 3


def test_lookback_catches_a_late_commit_with_an_older_timestamp(warehouse, erp):
    add_customer(erp, "CL000010", "Early", "2025-06-01 20:00:00")
    load_table(warehouse, erp, "F_COMPTET", ctx("r1", DAY1_END), SETTINGS)
    # Committed after the first read, but stamped 19:30 (its transaction began earlier).
    add_customer(erp, "CL000011", "Late commit", "2025-06-01 19:30:00")
    second = load_table(warehouse, erp, "F_COMPTET", ctx("r2", DAY2_END, DAY1_END), SETTINGS)
    assert second.rows_inserted == 1
    assert warehouse.query("select count(*) from raw_erp.f_comptet")[0][0] == 2


def test_schema_drift_new_column_added_missing_required_column_named(warehouse, erp):
    add_customer(erp, "CL000020", "Drift", "2025-06-01 10:00:00")
    load_table(warehouse, erp, "F_COMPTET", ctx("r1", DAY1_END), SETTINGS)
    erp.execute('alter table dbo."F_COMPTET" add column "CT_Siret" varchar(14)')
    erp.execute(
        'update dbo."F_COMPTET" set "CT_Siret" = \'12345678900011\', "cbModification" = \'2025-06-02 08:00:00\''
    )
    result = load_table(warehouse, erp, "F_COMPTET", ctx("r2", DAY2_END, DAY1_END), SETTINGS)
    assert result.detail["columns_added"] == ["CT_Siret"]
    assert warehouse.query("select ct_siret from raw_erp.f_comptet") == [("12345678900011",)]

    erp.execute('alter table dbo."F_COMPTET" drop column "CT_EMail"')
    with pytest.raises(MissingRequiredColumn, match=r"erp.F_COMPTET: required column 'CT_EMail' is missing"):
        load_table(warehouse, erp, "F_COMPTET", ctx("r3", DAY2_END, DAY1_END), SETTINGS)


def test_rows_without_a_key_go_to_quarantine(warehouse, erp):
    add_customer(erp, "CL000030", "Keyed", "2025-06-01 10:00:00")
    add_customer(erp, None, "No key", "2025-06-01 11:00:00")
    result = load_table(warehouse, erp, "F_COMPTET", ctx("r1", DAY1_END), SETTINGS)
    assert (result.rows_read, result.rows_inserted, result.rows_quarantined) == (2, 1, 1)
    reason, raw = warehouse.query("select reason, raw_record from meta.quarantine where source = 'erp'")[0]
    assert "null key" in reason and "No key" in raw
