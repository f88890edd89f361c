"""ensure_schema: every meta.* and ml.* object from one DDL, idempotent, lock-free once in place."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cs_analytics.schema import DDL_SHA256, RELATIONS, ensure_schema
from cs_analytics.warehouse import Warehouse


def present(wh: Warehouse) -> set[str]:
    rows = wh.query("select r from unnest(%s::text[]) r where to_regclass(r) is not null", (list(RELATIONS),))
    return {r[0] for r in rows}


def test_concurrent_first_runs_create_every_object_once(warehouse: Warehouse):
    assert {
        "meta.quarantine",
        "meta.dq_results",
        "meta.outbox",
        "marts.alert_delivery_log",
        "ml.churn_scores",
        "ml.call_volume_forecast",
    } <= set(RELATIONS)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda _: ensure_schema(warehouse), range(3)))
    assert present(warehouse) == set(RELATIONS)
    assert warehouse.query("select ddl_sha256 from meta.schema_version") == [(DDL_SHA256,)]


def test_once_in_place_it_takes_no_lock_a_running_load_holds(warehouse: Warehouse):
    ensure_schema(warehouse)
    impatient = Warehouse(make_conninfo(warehouse.dsn, options="-c lock_timeout=200"))
    with psycopg.connect(warehouse.dsn) as load:  # a load in progress reads and writes meta.quarantine
        load.execute("select count(*) from meta.quarantine")
        ensure_schema(impatient)  # the fast path: catalog reads only
        # Applying the DDL would have to wait for the load (ALTER TABLE meta.quarantine ...).
        warehouse.execute("delete from meta.schema_version")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            ensure_schema(impatient)
    ensure_schema(impatient)  # the load committed: applied now
    assert warehouse.query("select ddl_sha256 from meta.schema_version") == [(DDL_SHA256,)]


def test_a_dropped_table_comes_back(warehouse: Warehouse):
    ensure_schema(warehouse)
    warehouse.execute("drop table meta.watermarks; drop table ml.model_runs")
    ensure_schema(warehouse)
    assert present(warehouse) == set(RELATIONS)
