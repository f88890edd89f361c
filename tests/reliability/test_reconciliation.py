"""Each load compares what its source counts with what it loaded plus quarantined, stores the
comparison in meta.source_reconciliation, and fails loudly on a shortfall (nothing committed)."""

from __future__ import annotations

import pytest

from cs_analytics.ingestion.batch import SourceDataMissing
from cs_analytics.ingestion.crm import HubSpotClient, load_object
from cs_analytics.ingestion.cti import load_landing_folder
from tests.integration.test_ingest_api import BASE, FUTURE, SETTINGS, N, crm, ctx, session  # noqa: F401
from tests.reliability.corpus import CORPUS
from tests.reliability.corpus import SETTINGS as CTI_SETTINGS

pytestmark = pytest.mark.integration


def reconciliation(warehouse) -> list[tuple]:
    return warehouse.query(
        "select source, object, scope, source_count, loaded, quarantined, rule, matches "
        "from meta.source_reconciliation order by checked_at"
    )


def test_a_crm_search_that_misses_records_fails_against_hubspots_count_and_commits_nothing(
    warehouse,
    crm,  # noqa: F811
    monkeypatch,
):
    server, url = crm
    client = HubSpotClient(session(url, server))
    load_object(warehouse, client, "contacts", ctx("contacts", "r1", BASE + (FUTURE - BASE) / 2), SETTINGS)
    assert reconciliation(warehouse)[-1][3:] == (N, N, 0, "at_least", True)

    # A search that silently misses every other record (a wrong property, a time-zone shift...).
    real = HubSpotClient.search_modified
    monkeypatch.setattr(
        HubSpotClient,
        "search_modified",
        lambda self, *a, **k: (r for i, r in enumerate(real(self, *a, **k)) if i % 2 == 0),
    )
    from simulators import stores

    conn = stores.connect_crm(server.store_path)
    conn.execute(
        "update objects set updated_at = ?, properties = json_set(properties, '$.lastmodifieddate', ?)",
        (stores.iso_utc(FUTURE - (FUTURE - BASE) / 4),) * 2,
    )
    conn.commit()
    conn.close()
    batches_before = warehouse.query("select count(*) from meta.load_batches")[0][0]
    with pytest.raises(
        SourceDataMissing, match=r"crm\.contacts \(window\): the source counts 200 but the load got 100"
    ):
        load_object(warehouse, client, "contacts", ctx("contacts", "r2", FUTURE, BASE), SETTINGS)
    assert reconciliation(warehouse)[-1][3:] == (N, N // 2, 0, "at_least", False)
    assert warehouse.query("select count(*) from meta.load_batches")[0][0] == batches_before


def test_cti_and_erp_loads_record_their_counts(warehouse, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("cdr_20250110.csv", "cdr_20250117.csv"):
        (landing / name).write_bytes((CORPUS / "cti" / name).read_bytes())
    from cs_analytics.ingestion.batch import BatchContext

    load_landing_folder(warehouse, landing, BatchContext("cti", "calls", "ingest_cti", "r1"), CTI_SETTINGS)
    assert {r[2]: r[3:] for r in reconciliation(warehouse)} == {
        "cdr_20250110.csv": (3, 3, 0, "equal", True),
        "cdr_20250117.csv": (3, 2, 1, "equal", True),  # the 200 kB line is quarantined
    }
