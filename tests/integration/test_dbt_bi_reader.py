"""The read-only `bi_reader` role: it reads the marts (tables created later included) and is
denied everything else, and (re)creating it is idempotent."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors

from cs_analytics.transform.bi_access import BI_ROLE, ensure_bi_reader
from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


@pytest.fixture(scope="module")
def bi_conninfo(dbt_world: DbtWorld) -> str:
    password = os.environ.get("BI_READER_PASSWORD")
    if not password:
        pytest.fail("BI_READER_PASSWORD is not set: run the tests with `make test` (or scripts/run.sh pytest)")
    # twice: creating the role and re-asserting it are the same operation
    ensure_bi_reader(dbt_world.warehouse, password)
    result = ensure_bi_reader(dbt_world.warehouse, password)
    assert result["role"] == BI_ROLE and result["schema"] == "marts" and result["relations"] >= 20
    parts = urlsplit(dbt_world.warehouse_url)
    return psycopg.conninfo.make_conninfo(
        host=parts.hostname, port=parts.port, dbname=dbt_world.database, user=BI_ROLE, password=password
    )


def _denied(conninfo: str, sql: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute(sql)
        except (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction):
            return True
    return False


def test_bi_reader_reads_the_marts(bi_conninfo: str):
    with psycopg.connect(bi_conninfo, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.mart_kpi_daily").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.dim_customer where is_current").fetchone()[0] > 0


@pytest.mark.parametrize(
    "relation",
    ["raw_cti.calls", "raw_crm.tickets", "raw_erp.f_docentete", "staging.stg_cti__calls",
     "intermediate.int_customer_identities_matched", "snapshots.snap_customers", "meta.load_batches"],
)  # fmt: skip
def test_bi_reader_is_denied_everything_else(bi_conninfo: str, relation: str):
    assert _denied(bi_conninfo, f"select 1 from {relation} limit 1")


def test_bi_reader_cannot_write(bi_conninfo: str):
    assert _denied(bi_conninfo, "create table marts.bi_scratch (a int)")
    assert _denied(bi_conninfo, "delete from marts.dim_channel")


def test_bi_reader_reads_a_mart_created_after_the_grant(dbt_world: DbtWorld, bi_conninfo: str):
    """dbt creates a new relation on every table build: default privileges must cover it."""
    dbt_world.warehouse.execute("create table marts.test_later_mart as select 1 as kpi")
    try:
        with psycopg.connect(bi_conninfo, autocommit=True) as conn:
            assert conn.execute("select kpi from marts.test_later_mart").fetchone()[0] == 1
    finally:
        dbt_world.warehouse.execute("drop table marts.test_later_mart")
