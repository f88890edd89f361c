"""The read-only `bi_reader` role: it reads the marts (tables created later included) and is
denied everything else — every other schema, every write, temporary tables, every other database,
tried with the role's read-only default switched off — and (re)creating it is idempotent."""

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
    # The ml schema holds the scores (written by ml_scoring, not built here): BI must not read it.
    dbt_world.warehouse.execute("create schema if not exists ml; create table if not exists ml.bi_probe (a int)")
    # twice: creating the role and re-asserting it are the same operation
    ensure_bi_reader(dbt_world.warehouse, password)
    result = ensure_bi_reader(dbt_world.warehouse, password)
    assert result["role"] == BI_ROLE and result["schema"] == "marts" and result["relations"] >= 20
    parts = urlsplit(dbt_world.warehouse_url)
    return psycopg.conninfo.make_conninfo(
        host=parts.hostname, port=parts.port, dbname=dbt_world.database, user=BI_ROLE, password=password
    )


def _denied(conninfo: str, statement: str) -> bool:
    """True when the privileges refuse `statement`, tried in a READ WRITE transaction: the role's
    read-only default is a session setting anyone may switch off, so it proves nothing."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("set transaction read write")
        assert conn.execute("show transaction_read_only").fetchone()[0] == "off"
        try:
            conn.execute(statement)
        except errors.InsufficientPrivilege:
            return True
        finally:
            conn.rollback()
    return False


def test_bi_reader_reads_the_marts(bi_conninfo: str):
    with psycopg.connect(bi_conninfo, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.mart_kpi_daily").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.dim_customer where is_current").fetchone()[0] > 0


@pytest.mark.parametrize(
    "relation",
    ["raw_cti.calls", "raw_crm.tickets", "raw_crm.contacts", "raw_erp.f_docentete", "raw_app.interventions",
     "staging.stg_cti__calls", "intermediate.int_customer_identities_matched", "snapshots.snap_customers",
     "reference.channels", "meta.load_batches", "meta.watermarks", "ml.bi_probe",
     "marts_build.fct_calls", "marts_build.mart_kpi_daily"],
)  # fmt: skip
def test_bi_reader_is_denied_everything_else(bi_conninfo: str, relation: str):
    assert _denied(bi_conninfo, f"select 1 from {relation} limit 1")


@pytest.mark.parametrize(
    "statement",
    [
        "create schema bi_scratch",
        "create table marts.bi_scratch (a int)",
        "create table public.bi_scratch (a int)",
        "create temporary table bi_scratch (a int)",
        "create view marts.bi_scratch as select 1 as a",
        "delete from marts.dim_channel",
        "insert into marts.dim_channel select * from marts.dim_channel limit 1",
        "update marts.dim_channel set channel_code = channel_code",
        "truncate marts.dim_channel",
        "drop table marts.dim_channel",
        "alter table marts.dim_channel add column bi_scratch int",
        "create table ml.bi_scratch (a int)",
        "insert into meta.watermarks select * from meta.watermarks limit 1",
    ],
)
def test_bi_reader_cannot_write_even_in_a_read_write_transaction(bi_conninfo: str, statement: str):
    assert _denied(bi_conninfo, statement)


def test_bi_reader_cannot_connect_to_any_other_database(dbt_world: DbtWorld, bi_conninfo: str):
    others = ["airflow", "sage_erp", "postgres", "template1", urlsplit(dbt_world.erp_url).path.lstrip("/")]
    present = {r[0] for r in dbt_world.query("select datname from pg_database where datallowconn")}
    assert {"postgres", "template1"} <= present
    refused = []
    for name in [d for d in others if d in present]:
        try:
            psycopg.connect(psycopg.conninfo.make_conninfo(bi_conninfo, dbname=name)).close()
        except psycopg.OperationalError as exc:
            assert "permission denied for database" in str(exc)
            refused.append(name)
    assert refused == [d for d in others if d in present]
    open_to_all = ensure_bi_reader(dbt_world.warehouse, os.environ["BI_READER_PASSWORD"])["databases_open_to_public"]
    # `make test` runs two workers: a database another test created meanwhile is open until closed
    assert [d for d in open_to_all if d in present] == []


def test_bi_reader_reads_a_mart_created_after_the_grant(dbt_world: DbtWorld, bi_conninfo: str):
    """dbt creates a new relation on every table build: default privileges must cover it."""
    dbt_world.warehouse.execute("create table marts.test_later_mart as select 1 as kpi")
    try:
        with psycopg.connect(bi_conninfo, autocommit=True) as conn:
            assert conn.execute("select kpi from marts.test_later_mart").fetchone()[0] == 1
    finally:
        dbt_world.warehouse.execute("drop table marts.test_later_mart")


def test_two_warehouses_of_one_cluster_set_up_the_reader_at_once(scratch_db_url: str, second_db_url: str, server_url):
    """The role is the cluster's: two warehouses (or two test workers) re-asserting it together
    update the same pg_authid row, while other databases come and go; every run succeeds."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from cs_analytics.warehouse import Warehouse
    from tests.conftest import throwaway_database

    password = os.environ["BI_READER_PASSWORD"]
    stop = threading.Event()

    def churn() -> int:  # databases created and dropped meanwhile, as parallel tests do
        made = 0
        while not stop.is_set():
            with throwaway_database(server_url, "test_churn"):
                made += 1
        return made

    with ThreadPoolExecutor(max_workers=3) as pool:
        churning = pool.submit(churn)
        try:
            runs = [pool.submit(lambda u=u: [ensure_bi_reader(Warehouse(u), password) for _ in range(15)])
                    for u in (scratch_db_url, second_db_url)]  # fmt: skip
            results = [r.result() for r in runs]
        finally:
            stop.set()
        assert churning.result() > 0
    assert all(run["role"] == BI_ROLE for each in results for run in each)
