"""CRM and mobile-app ingestion against the simulated APIs (served in-process) and the real
warehouse: paging under change, rate limits, 5xx and timeouts, auth, idempotence, drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion import crm as crm_loader
from cs_analytics.ingestion.batch import BatchContext, MissingRequiredColumn
from cs_analytics.ingestion.crm import HubSpotClient, SearchMissedChanges, load_object
from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy, SourceAuthError
from cs_analytics.ingestion.mobile_app import MobileAppClient, load_resource
from simulators import app_api, crm_api, stores
from simulators.httpbase import serve_in_thread

TOKEN = "test-token"
BASE = datetime(2025, 3, 1, tzinfo=UTC)
N = 200
SETTINGS = IngestSettings(quarantine_max_rate=1.0)
FUTURE = datetime.now(UTC) + timedelta(days=1)


def contact(i: int) -> dict:
    ts = stores.iso_utc(BASE + timedelta(hours=i))
    return {
        "id": str(100 + i),
        "created_at": ts,
        "updated_at": ts,
        "properties": {
            "email": f"c{i}@example.fr",
            "phone": "+33612345678",
            "statut_client": "actif",
            "lastmodifieddate": ts,  # a contact's own modification property (HubSpot's quirk)
            "createdate": ts,
            "firstname": f"P{i}",
        },
    }


def intervention(i: int) -> dict:
    ts = stores.iso_utc(BASE + timedelta(hours=i))
    return {
        "id": f"INT-{i:06d}",
        "updated_at": ts,
        "created_at": ts,
        "technician_id": "TECH-01",
        "customer_code": f"CL{i:06d}",
        "type": "breakdown",
        "status": "done",
        "scheduled_start": "2025-03-01T09:00:00+01:00",
    }


@pytest.fixture
def crm(tmp_path) -> Iterator[tuple[crm_api.CrmServer, str]]:
    path = tmp_path / "crm.sqlite"
    conn = stores.connect_crm(path)
    stores.upsert_crm_objects(conn, "contacts", [contact(i) for i in range(N)])
    # HubSpot's contact catalogue also lists `hs_lastmodifieddate`, which no contact carries.
    conn.executemany(
        "insert into properties (object_type, name, type) values ('contacts', ?, ?)",
        [(p, "datetime" if "date" in p else "string") for p in [*contact(0)["properties"], "hs_lastmodifieddate"]],
    )
    conn.close()
    server = crm_api.make_server(store_path=path, token=TOKEN, rate_limit_per_10s=0, search_per_second=0)
    with serve_in_thread(server) as url:
        yield server, url


@pytest.fixture
def app(tmp_path) -> Iterator[tuple[app_api.AppServer, str]]:
    path = tmp_path / "app.sqlite"
    conn = stores.connect_app(path)
    stores.upsert_app_records(conn, "interventions", [intervention(i) for i in range(N)])
    conn.close()
    server = app_api.make_server(store_path=path, token=TOKEN, rate_limit_per_10s=0)
    with serve_in_thread(server) as url:
        yield server, url


def session(
    url: str,
    server,
    token: str = TOKEN,
    timeout: float = 5.0,
    http: requests.Session | None = None,
    sleeps: list[float] | None = None,
) -> ApiSession:
    """Retry waits advance the simulator's clock instead of sleeping, and are recorded."""

    def fake_sleep(seconds: float) -> None:
        server.clock_skew += seconds
        if sleeps is not None:
            sleeps.append(seconds)

    return ApiSession("crm_api", url, token, timeout, RetryPolicy(max_retries=5, sleep=fake_sleep), http)


def ctx(obj: str, run: str, end: datetime, start: datetime | None = None, source: str = "crm") -> BatchContext:
    return BatchContext(source, obj, f"ingest_{source}", run, start, end)


def raw_state(warehouse, table: str) -> tuple:
    return warehouse.query(
        f"select count(*), count(distinct id), md5(string_agg(id || _record_hash, ',' order by id)) from {table}"
    )[0]


class TouchingSession(requests.Session):
    """Changes records on the server after the first data page is served, as a busy source would."""

    def __init__(self, touch, page_marker: str):
        super().__init__()
        self.touch, self.page_marker, self.pages = touch, page_marker, 0

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        if self.page_marker in url:
            self.pages += 1
            if self.pages == 1:
                self.touch()
        return resp


def test_crm_full_then_incremental_search_sees_every_record_once_under_change(warehouse, crm):
    server, url = crm
    client = HubSpotClient(session(url, server), page_size=25, search_page_size=20)
    # Full load of the first half (records updated before the interval end).
    half = BASE + timedelta(hours=N // 2)
    first = load_object(warehouse, client, "contacts", ctx("contacts", "r1", half), SETTINGS)
    assert first.rows_inserted == N // 2 and first.watermark == half - timedelta(hours=1)

    # Incremental search; after its first page, two records already read are modified and move
    # to the end of the sorted result set: offset paging would now skip two unread records.
    def touch():
        requests.post(
            f"{url}/_sim/touch",
            json={"object_type": "contacts", "ids": ["200", "205"], "properties": {"firstname": "changed"}},
            timeout=5,
        )

    client = HubSpotClient(
        session(url, server, http=TouchingSession(touch, "/search")), page_size=25, search_page_size=20
    )
    second = load_object(warehouse, client, "contacts", ctx("contacts", "r2", FUTURE, half), SETTINGS)
    count, distinct, _ = raw_state(warehouse, "raw_crm.contacts")
    assert count == distinct == N
    changed = warehouse.query("select id from raw_crm.contacts where payload->'properties'->>'firstname' = 'changed'")
    assert sorted(r[0] for r in changed) == ["200", "205"]
    assert second.rows_inserted == N // 2


def test_crm_rerun_of_an_interval_leaves_raw_identical(warehouse, crm):
    server, url = crm
    client = HubSpotClient(session(url, server), search_page_size=50)
    load_object(warehouse, client, "contacts", ctx("contacts", "r1", FUTURE), SETTINGS)
    before = raw_state(warehouse, "raw_crm.contacts")
    for run in ("r1", "r2", "r3"):
        again = load_object(warehouse, client, "contacts", ctx("contacts", run, FUTURE, BASE), SETTINGS)
        assert again.rows_inserted == again.rows_updated == 0
    assert raw_state(warehouse, "raw_crm.contacts") == before


def test_crm_contact_lost_after_the_first_load_arrives_with_the_daily_run(warehouse, crm):
    """Issue 9 item 8: the daily search must use contacts' own `lastmodifieddate`."""
    server, url = crm
    client = HubSpotClient(session(url, server), search_page_size=50)
    first_end = datetime.now(UTC)
    load_object(warehouse, client, "contacts", ctx("contacts", "day1", first_end), SETTINGS)
    requests.post(
        f"{url}/_sim/touch",
        json={"object_type": "contacts", "ids": ["150"], "properties": {"statut_client": "perdu"}},
        timeout=5,
    ).raise_for_status()

    daily = load_object(warehouse, client, "contacts", ctx("contacts", "day2", FUTURE, first_end), SETTINGS)
    assert daily.rows_updated == 1
    status = warehouse.query("select payload->'properties'->>'statut_client' from raw_crm.contacts where id = '150'")
    assert status == [("perdu",)]


def _new_contact(server, i: int) -> None:
    conn = stores.connect_crm(server.store_path)
    now = stores.iso_utc(datetime.now(UTC))
    stores.upsert_crm_objects(
        conn, "contacts", [contact(i) | {"created_at": now, "updated_at": now}
                           | {"properties": contact(i)["properties"] | {"createdate": now, "lastmodifieddate": now}}]
    )  # fmt: skip
    conn.close()


def test_crm_search_finding_nothing_while_the_total_grew_fails_naming_object_and_property(warehouse, crm, monkeypatch):
    server, url = crm
    client = HubSpotClient(session(url, server), search_page_size=50)
    first_end = datetime.now(UTC)
    load_object(warehouse, client, "contacts", ctx("contacts", "day1", first_end), SETTINGS)
    # A quiet day and a day with only an archived record pass: a shrinking total proves nothing.
    quiet = load_object(warehouse, client, "contacts", ctx("contacts", "day2", FUTURE, first_end), SETTINGS)
    assert quiet.rows_inserted == quiet.rows_updated == 0 and quiet.detail["source_total"] == N
    requests.post(
        f"{url}/_sim/touch", json={"object_type": "contacts", "ids": ["101"], "archived": True}, timeout=5
    ).raise_for_status()
    load_object(warehouse, client, "contacts", ctx("contacts", "day3", FUTURE, first_end), SETTINGS)

    # The search property the loader used before this fix: HubSpot answers nothing for contacts.
    monkeypatch.setitem(crm_loader.MODIFIED_PROPERTIES, "contacts", "hs_lastmodifieddate")
    _new_contact(server, N + 5)
    batches = warehouse.query("select count(*) from meta.load_batches")[0][0]
    with pytest.raises(SearchMissedChanges, match=r"crm\.contacts: the search on `hs_lastmodifieddate`.*199.*200"):
        load_object(warehouse, client, "contacts", ctx("contacts", "day4", FUTURE, first_end), SETTINGS)
    assert warehouse.query("select count(*) from meta.load_batches")[0][0] == batches  # nothing committed

    monkeypatch.undo()
    found = load_object(warehouse, client, "contacts", ctx("contacts", "day4", FUTURE, first_end), SETTINGS)
    assert found.rows_inserted == 1 and found.detail["source_total"] == N


def test_crm_rate_limit_is_honoured_through_retry_after(warehouse, crm):
    server, url = crm
    server.faults.update({"rate_limit_per_10s": 3})
    sleeps: list[float] = []
    client = HubSpotClient(session(url, server, sleeps=sleeps), page_size=20)
    result = load_object(warehouse, client, "contacts", ctx("contacts", "r1", FUTURE), SETTINGS)
    assert result.rows_inserted == N
    assert server.stats.snapshot()["rate_limited"] >= 1 and client.api.stats.rate_limited >= 1
    assert sleeps and all(0 < s <= 10 for s in sleeps)  # the waits came from Retry-After


def test_crm_5xx_and_timeouts_are_retried_with_growing_backoff(warehouse, crm):
    server, url = crm
    server.faults.update({"fail_next": 3, "error_status": 503, "timeout_next": 1, "hang_seconds": 3})
    sleeps: list[float] = []
    client = HubSpotClient(session(url, server, timeout=0.5, sleeps=sleeps), page_size=50)
    result = load_object(warehouse, client, "contacts", ctx("contacts", "r1", FUTURE), SETTINGS)
    assert result.rows_inserted == N
    assert client.api.stats.retries_5xx == 3 and client.api.stats.retries_timeout == 1
    caps = [min(30.0, 0.5 * 2**i) for i in range(len(sleeps))]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_crm_bad_token_fails_at_once_naming_the_connection(warehouse, crm):
    server, url = crm
    client = HubSpotClient(session(url, server, token="wrong"))
    with pytest.raises(SourceAuthError, match=r"401 .*Airflow connection 'crm_api'.*AIRFLOW_CONN_CRM_API"):
        load_object(warehouse, client, "contacts", ctx("contacts", "r1", FUTURE), SETTINGS)
    assert server.stats.snapshot()["requests"] == 1  # no retries on a refused credential


def test_crm_required_property_gone_from_the_schema_is_named(warehouse, crm):
    server, url = crm
    conn = stores.connect_crm(server.store_path)
    conn.execute("delete from properties where object_type = 'contacts' and name = 'statut_client'")
    conn.close()
    with pytest.raises(MissingRequiredColumn, match=r"crm.contacts: required column 'statut_client'"):
        load_object(warehouse, HubSpotClient(session(url, server)), "contacts", ctx("contacts", "r1", FUTURE), SETTINGS)


def test_app_keyset_paging_keeps_latest_version_of_records_changed_mid_run(warehouse, app):
    server, url = app

    def touch():
        requests.post(
            f"{url}/_sim/touch",
            json={"resource": "interventions", "ids": ["INT-000005", "INT-000150"], "fields": {"status": "cancelled"}},
            timeout=5,
        )

    client = MobileAppClient(session(url, server, http=TouchingSession(touch, "/api/v1/")), page_size=25)
    result = load_resource(
        warehouse, client, "interventions", ctx("interventions", "r1", FUTURE, source="mobile_app"), SETTINGS
    )
    count, distinct, _ = raw_state(warehouse, "raw_app.interventions")
    assert count == distinct == N and result.rows_read >= N  # touched records may be served twice
    cancelled = warehouse.query("select id from raw_app.interventions where payload->>'status' = 'cancelled'")
    assert sorted(r[0] for r in cancelled) == ["INT-000005", "INT-000150"]
    before = raw_state(warehouse, "raw_app.interventions")
    load_resource(
        warehouse,
        MobileAppClient(session(url, server)),
        "interventions",
        ctx("interventions", "r2", FUTURE, BASE, source="mobile_app"),
        SETTINGS,
    )
    assert raw_state(warehouse, "raw_app.interventions") == before


def test_app_bad_records_quarantined_and_missing_field_named(warehouse, app):
    server, url = app
    conn = stores.connect_app(server.store_path)
    bad = intervention(N + 1) | {"customer_code": ""}
    stores.upsert_app_records(conn, "interventions", [bad])
    conn.close()
    result = load_resource(
        warehouse,
        MobileAppClient(session(url, server)),
        "interventions",
        ctx("interventions", "r1", FUTURE, source="mobile_app"),
        SETTINGS,
    )
    assert result.rows_quarantined == 1
    reason = warehouse.query("select reason from meta.quarantine where location like %s", ("%INT-000201",))[0][0]
    assert "customer_code" in reason

    conn = stores.connect_app(server.store_path)
    stores.upsert_app_records(
        conn, "interventions", [{k: v for k, v in intervention(i).items() if k != "technician_id"} for i in range(N)]
    )
    conn.close()
    with pytest.raises(MissingRequiredColumn, match=r"mobile_app.interventions: required column 'technician_id'"):
        load_resource(
            warehouse,
            MobileAppClient(session(url, server)),
            "interventions",
            ctx("interventions", "r2", FUTURE, source="mobile_app"),
            SETTINGS,
        )
