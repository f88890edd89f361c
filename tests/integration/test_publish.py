"""Write-audit-publish (issue 9 item 9): readers see the published copies of the audited build,
switched in one transaction with their grants; a publish that fails half-way changes nothing."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import psycopg
import pytest

from cs_analytics.transform.bi_access import BI_ROLE, ensure_bi_reader
from cs_analytics.transform.publish import Relation, built_marts, publish, publish_marts
from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


@pytest.fixture(scope="module")
def bi(dbt_world: DbtWorld):
    ensure_bi_reader(dbt_world.warehouse, os.environ["BI_READER_PASSWORD"])
    parts = urlsplit(dbt_world.warehouse_url)
    conninfo = psycopg.conninfo.make_conninfo(
        host=parts.hostname, port=parts.port, dbname=dbt_world.database, user=BI_ROLE,
        password=os.environ["BI_READER_PASSWORD"],
    )  # fmt: skip

    def read(statement: str) -> list[tuple]:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            return conn.execute(statement).fetchall()

    return read


def _manifest(world: DbtWorld):
    return world.root / "dbt_target" / "manifest.json"


def test_every_mart_is_published_from_its_hidden_build(dbt_world: DbtWorld, bi):
    relations = built_marts(_manifest(dbt_world))
    assert {r.built.split(".")[0] for r in relations} == {"marts_build"}
    assert {r.published.split(".")[0] for r in relations} == {"marts", "marts_pii"} and len(relations) >= 20
    # the clear customer contacts alone go to marts_pii, which BI does not read (roles.py)
    assert [r.published for r in relations if not r.published.startswith("marts.")] == ["marts_pii.customer_contact"]
    publish_marts(dbt_world.warehouse, _manifest(dbt_world))  # other tests of this shared world rebuild some marts
    for rel in relations:
        assert dbt_world.query(f"select count(*) from {rel.built}") == dbt_world.query(
            f"select count(*) from {rel.published}"
        ), rel
    assert bi("select count(*) from marts.fct_tickets")[0][0] > 0


def test_bi_sees_the_build_only_once_published_and_the_grants_follow(dbt_world: DbtWorld, bi):
    wh = dbt_world.warehouse
    before = bi("select count(*), max(kpi_date) from marts.mart_kpi_daily")
    wh.execute(
        "delete from marts_build.mart_kpi_daily where kpi_date = (select max(kpi_date) from marts_build.mart_kpi_daily)"
    )
    try:
        assert bi("select count(*), max(kpi_date) from marts.mart_kpi_daily") == before  # the build is not read
        result = publish_marts(wh, _manifest(dbt_world))
        # the published tables are new relations: readable only because the grant came with them
        ((count, last),) = bi("select count(*), max(kpi_date) from marts.mart_kpi_daily")
        assert count == before[0][0] - 1 and last < before[0][1]
        assert result.rows > 0 and "marts.mart_kpi_daily" in result.relations
        print(f"\npublish: {len(result.relations)} relations, {result.rows} rows in {result.seconds:.2f}s")
    finally:
        dbt_world.dbt("run", "--select", "mart_kpi_daily")
        publish_marts(wh, _manifest(dbt_world))
    assert bi("select count(*), max(kpi_date) from marts.mart_kpi_daily") == before


def test_a_publish_failing_half_way_leaves_every_published_mart_as_it_was(dbt_world: DbtWorld, bi):
    wh = dbt_world.warehouse
    before = {t: bi(f"select count(*) from marts.{t}") for t in ("dim_date", "fct_calls")}
    wh.execute("create table marts_build.zz_half (a int); insert into marts_build.zz_half values (1)")
    wh.execute("delete from marts_build.dim_date where date_day < '2020-01-01'")
    relations = [
        Relation("marts_build.dim_date", "marts.dim_date"),
        Relation("marts_build.zz_half", "marts.zz_half"),
        Relation("marts_build.no_such_mart", "marts.no_such_mart"),  # fails after two were copied
    ]
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            publish(wh, relations, readers=[BI_ROLE])
        assert {t: bi(f"select count(*) from marts.{t}") for t in before} == before
        assert not dbt_world.query("select 1 from information_schema.tables where table_name = 'zz_half'  "
                                   "and table_schema = 'marts'")  # fmt: skip
    finally:
        wh.execute("drop table marts_build.zz_half")
        # a table's rebuild drops the views over it (dbt drops the old table with cascade)
        dbt_world.dbt("run", "--select", "dim_date", "int_kpi_days_settled")
