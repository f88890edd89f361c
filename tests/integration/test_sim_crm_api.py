"""The HubSpot-like CRM simulator, served in-process over a small store built per test."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from simulators import crm_api, stores
from simulators.httpbase import serve_in_thread

TOKEN = "crm-test-token"
BASE = datetime(2025, 3, 1, tzinfo=UTC)
PARIS_WINTER = timezone(timedelta(hours=1))
N_CONTACTS, N_TICKETS = 260, 120
CATEGORIES = ("RDV_SAV", "DEVIS", "RECLAMATION", "FACTURATION", "INFORMATION", "URGENCE_PANNE")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _contact(i: int) -> dict:
    created, updated = BASE + timedelta(hours=i), BASE + timedelta(days=1, hours=i)
    return {
        "id": str(i),
        "properties": {
            "hs_object_id": str(i),
            "firstname": f"Prenom{i}",
            "lastname": f"Nom{i}",
            "email": f"c{i}@example.fr",
            "vip": i % 10 == 0,
            "code_client_erp": None if i % 5 == 0 else f"CL{i:06d}",
            "createdate": stores.iso_utc(created),
            "lastmodifieddate": stores.iso_utc(updated),  # contacts' own; no hs_lastmodifieddate, as on HubSpot
        },
        "created_at": stores.iso_utc(created),
        "updated_at": stores.iso_utc(updated),
        "archived": i % 50 == 0,
    }


def _ticket_updated(i: int) -> datetime:
    return BASE + timedelta(hours=i)


def _ticket(i: int) -> dict:
    updated = _ticket_updated(i)
    # Date properties as a store may hold them: with or without milliseconds, or with an offset.
    modified = {0: updated.strftime("%Y-%m-%dT%H:%M:%SZ"), 1: updated.astimezone(PARIS_WINTER).isoformat()}.get(
        i % 3, stores.iso_utc(updated)
    )
    return {
        "id": str(1000 + i),
        "properties": {
            "hs_object_id": str(1000 + i),
            "subject": f"Ticket {i}",
            "content": "Chaudière en panne",
            "hs_pipeline": "0",
            "hs_pipeline_stage": str(1 + i % 4),
            "hs_ticket_category": CATEGORIES[i % 6],
            "hs_ticket_priority": PRIORITIES[i % 4],
            "source_type": "PHONE",
            "nb_agent_replies": str(i % 12),
            "closed_date": stores.iso_utc(updated) if i % 4 == 3 else None,
            "hs_contact_id": str(1 + i),
            "createdate": stores.iso_utc(BASE),
            "hs_lastmodifieddate": modified,
        },
        "created_at": stores.iso_utc(BASE),
        "updated_at": stores.iso_utc(updated),
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "crm.sqlite"
    conn = stores.connect_crm(path)
    contacts = [_contact(i) for i in range(1, N_CONTACTS + 1)]
    random.Random(7).shuffle(contacts)  # insertion order must not matter, only numeric ids
    stores.upsert_crm_objects(conn, "contacts", contacts)
    stores.upsert_crm_objects(conn, "tickets", [_ticket(i) for i in range(N_TICKETS)])
    # Every ticket but the first is linked to a contact; feedback links are stored contact -> feedback.
    conn.executemany(
        "insert into associations values ('tickets', ?, 'contacts', ?)",
        [(str(1000 + i), str(1 + i)) for i in range(1, N_TICKETS)],
    )
    conn.executemany(
        "insert into properties values ('tickets', ?, ?, ?, ?)",
        [
            ("hs_lastmodifieddate", "Last modified", "datetime", "date"),
            ("closed_date", "Closed", "datetime", "date"),
            ("nb_agent_replies", "Agent replies", "number", "number"),
            ("subject", "Subject", "string", "text"),
            ("hs_ticket_category", "Category", "enumeration", "select"),
            ("hs_ticket_priority", "Priority", "enumeration", "select"),
        ],
    )
    conn.executemany(
        "insert into owners values (?, ?, ?, ?, ?, ?, ?, 0)",
        [
            (
                str(100 + k),
                f"agent{k}@service-client.local",
                f"Agent{k}",
                "Sim",
                9000 + k,
                stores.iso_utc(BASE),
                stores.iso_utc(BASE),
            )
            for k in range(3)
        ],
    )
    conn.close()
    return path


@dataclass
class Crm:
    url: str
    server: crm_api.CrmServer
    http: requests.Session

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url + path, timeout=5, **kw)

    def search(self, object_type: str, body: dict) -> requests.Response:
        return self.http.post(f"{self.url}/crm/v3/objects/{object_type}/search", json=body, timeout=5)

    def sim(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = requests.request(method, self.url + path, json=body, timeout=5)
        resp.raise_for_status()
        return resp.json()


@contextmanager
def _serve(store: Path, **limits) -> Iterator[Crm]:
    server = crm_api.make_server(store_path=store, token=TOKEN, **limits)
    with serve_in_thread(server) as url, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        yield Crm(url, server, http)


@pytest.fixture
def crm(store: Path) -> Iterator[Crm]:
    with _serve(store, rate_limit_per_10s=0, search_per_second=0) as served:  # limits off unless a test sets them
        yield served


def _search_ids(crm: Crm, object_type: str, body: dict) -> list[int]:
    resp = crm.search(object_type, {"limit": 200, **body})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["total"] == len(data["results"])
    return [int(r["id"]) for r in data["results"]]


def _ticket_ids(pred) -> list[int]:
    return [1000 + i for i in range(N_TICKETS) if pred(i)]


# --------------------------------------------------------------------------- list
def test_list_serves_every_record_once_in_id_order_even_when_one_is_touched_mid_paging(crm: Crm) -> None:
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 100, "properties": "firstname,email", **({"after": after} if after else {})}
        body = crm.get("/crm/v3/objects/contacts", params=params).json()
        pages += 1
        seen += body["results"]
        if pages == 1:
            touched = crm.sim(
                "POST",
                "/_sim/touch",
                {"object_type": "contacts", "ids": ["7", "230"], "properties": {"firstname": "Touched"}},
            )
            assert touched["touched"] == ["7", "230"]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert f"after={after}" in body["paging"]["next"]["link"]

    ids = [int(r["id"]) for r in seen]
    live = [i for i in range(1, N_CONTACTS + 1) if i % 50]
    assert pages == 3 and ids == live  # numeric order (9 < 10 < 100), each once, archived left out
    by_id = {r["id"]: r for r in seen}
    assert by_id["7"]["properties"]["firstname"] == "Prenom7"  # served before the touch
    late = by_id["230"]
    assert late["properties"]["firstname"] == "Touched"
    assert late["updatedAt"] == late["properties"]["lastmodifieddate"]
    assert "hs_lastmodifieddate" not in late["properties"]
    assert late["updatedAt"] > stores.iso_utc(BASE + timedelta(days=30))
    assert set(late) == {"id", "properties", "createdAt", "updatedAt", "archived"}


def test_a_list_page_is_an_index_range_not_a_scan_of_the_object_type(store: Path) -> None:
    # Each page of a backfill used to scan and sort every record of its type (quadratic: 0.3-0.5 s a
    # page at scale 10); HubSpot serves a page in constant time whatever the cursor.
    conn = stores.connect_crm(store)
    plan = " | ".join(
        row["detail"] for row in conn.execute("explain query plan " + crm_api.LIST_PAGE_SQL, ("tickets", 0, 1000, 101))
    )
    conn.close()
    assert "objects_by_number" in plan and "TEMP B-TREE" not in plan, plan


def test_list_parameters(crm: Crm) -> None:
    too_many = crm.get("/crm/v3/objects/contacts", params={"limit": 101})
    assert too_many.status_code == 400
    assert too_many.json()["status"] == "error" and too_many.json()["category"] == "VALIDATION_ERROR"

    default = crm.get("/crm/v3/objects/contacts").json()["results"]
    assert len(default) == 10
    assert set(default[0]["properties"]) == {
        "firstname",
        "lastname",
        "email",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }

    repeated = [("properties", "email"), ("properties", "vip,code_client_erp"), ("limit", "10")]
    props = {r["id"]: r["properties"] for r in crm.get("/crm/v3/objects/contacts", params=repeated).json()["results"]}
    assert {"email", "vip", "code_client_erp", "hs_object_id"} <= set(props["10"]) and "firstname" not in props["10"]
    assert props["10"]["vip"] == "true" and props["9"]["vip"] == "false"  # HubSpot values are strings
    assert props["10"]["code_client_erp"] is None and props["9"]["code_client_erp"] == "CL000009"

    archived = crm.get("/crm/v3/objects/contacts", params={"archived": "true", "limit": 100}).json()["results"]
    assert [r["id"] for r in archived] == ["50", "100", "150", "200", "250"] and all(r["archived"] for r in archived)

    assert crm.get("/crm/v3/objects/deals").status_code == 400
    assert crm.get("/crm/v3/objects/contacts", params={"after": "not-a-cursor"}).status_code == 400


def test_ticket_associations(crm: Crm) -> None:
    results = crm.get("/crm/v3/objects/tickets", params={"limit": 3, "associations": "contacts"}).json()["results"]
    assert "associations" not in results[0]  # ticket 1000 has no contact
    assert results[1]["associations"] == {"contacts": {"results": [{"id": "2", "type": "ticket_to_contact"}]}}
    plain = crm.get("/crm/v3/objects/tickets", params={"limit": 3}).json()["results"]
    assert all("associations" not in r for r in plain)


# --------------------------------------------------------------------------- search
def test_search_compares_dates_as_instants(crm: Crm) -> None:
    cut = _ticket_updated(10)
    as_ms = _search_ids(
        crm,
        "tickets",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(_ms(cut))}]}
            ]
        },
    )
    as_iso = _search_ids(
        crm,
        "tickets",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": cut.astimezone(PARIS_WINTER).isoformat(),
                        }
                    ]
                }
            ]
        },
    )
    assert as_ms == as_iso == _ticket_ids(lambda i: i >= 10)

    between = _search_ids(
        crm,
        "tickets",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "BETWEEN",
                            "value": str(_ms(_ticket_updated(20))),
                            "highValue": stores.iso_utc(_ticket_updated(29)),
                        }
                    ]
                }
            ]
        },
    )
    assert between == _ticket_ids(lambda i: 20 <= i <= 29)

    before = _search_ids(
        crm,
        "tickets",
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": "2025-03-01T05:00:00+02:00"}
                    ]
                }
            ]
        },
    )
    assert before == _ticket_ids(lambda i: i < 3)  # 03:00Z


def test_search_operators_groups_and_sorts(crm: Crm) -> None:
    def one(name: str, operator: str, value: str | None = None) -> list[int]:
        f = {"propertyName": name, "operator": operator, **({"value": value} if value is not None else {})}
        return _search_ids(crm, "tickets", {"filterGroups": [{"filters": [f]}]})

    assert one("hs_ticket_category", "EQ", "devis") == _ticket_ids(lambda i: i % 6 == 1)  # case-insensitive
    assert one("hs_ticket_category", "NEQ", "DEVIS") == _ticket_ids(lambda i: i % 6 != 1)
    assert one("nb_agent_replies", "GT", "9") == _ticket_ids(lambda i: i % 12 > 9)  # as numbers, not strings
    assert one("closed_date", "HAS_PROPERTY") == _ticket_ids(lambda i: i % 4 == 3)
    assert one("closed_date", "NOT_HAS_PROPERTY") == _ticket_ids(lambda i: i % 4 != 3)

    either = _search_ids(
        crm,
        "tickets",
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_ticket_category", "operator": "EQ", "value": "DEVIS"},
                        {"propertyName": "hs_ticket_priority", "operator": "EQ", "value": "MEDIUM"},
                    ]
                },
                {"filters": [{"propertyName": "hs_ticket_priority", "operator": "EQ", "value": "URGENT"}]},
            ]
        },
    )
    assert either == _ticket_ids(lambda i: (i % 6 == 1 and i % 4 == 1) or i % 4 == 3)

    newest_first = _search_ids(
        crm, "tickets", {"sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}]}
    )
    assert newest_first == sorted(_ticket_ids(lambda i: True), reverse=True)

    bad = crm.search(
        "tickets", {"filterGroups": [{"filters": [{"propertyName": "subject", "operator": "LIKE", "value": "x"}]}]}
    )
    assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"
    assert crm.search("tickets", {"limit": 201}).status_code == 400


def test_search_sees_a_touch_and_returns_chosen_properties(crm: Crm) -> None:
    since = _ms(datetime.now(UTC)) - 1
    crm.sim(
        "POST",
        "/_sim/touch",
        {"object_type": "tickets", "ids": ["1005", "9999"], "properties": {"hs_pipeline_stage": "4"}},
    )
    body = crm.search(
        "tickets",
        {
            "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since}]}],
            "properties": ["hs_pipeline_stage"],
            "limit": 10,
        },
    ).json()
    assert body["total"] == 1 and "paging" not in body
    (hit,) = body["results"]
    assert hit["id"] == "1005" and hit["properties"]["hs_pipeline_stage"] == "4" and "subject" not in hit["properties"]


def test_a_modified_date_search_reads_the_index_not_every_object(store: Path) -> None:
    """HubSpot's search is indexed; at scale 100 a scan of the tickets' JSON cost 3-6 s a page."""
    window = [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(_ms(BASE))},
        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": str(_ms(BASE + timedelta(days=1)))},
    ]
    query = crm_api._SearchQuery("tickets", {"hs_lastmodifieddate": "datetime"})
    where, params = query.where([{"filters": window}])
    order = query.order_by([{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}])
    conn = stores.connect_crm(store)
    plan = " | ".join(
        r["detail"]
        for r in conn.execute(f"explain query plan {crm_api.search_page_sql(where, order)}", [*params, 10, 0])
    )
    # the store's timestamps are kept in the one format the index compares, whatever a writer sent
    formats = conn.execute("select count(*) from objects where updated_at not like '____-__-__T__:__:__.___Z'")
    assert "USING INDEX objects_by_updated (object_type=? AND updated_at>? AND updated_at<?)" in plan, plan
    assert formats.fetchone()[0] == 0
    stores.upsert_crm_objects(conn, "tickets", [{**_ticket(0), "updated_at": "2025-03-01T01:00:00+01:00"}])
    assert conn.execute("select updated_at from objects where id = '1000'").fetchone()[0] == "2025-03-01T00:00:00.000Z"


def test_contacts_are_found_by_lastmodifieddate_and_never_by_hs_lastmodifieddate(crm: Crm) -> None:
    """HubSpot's quirk: a contact's modification date is `lastmodifieddate`; a search on
    `hs_lastmodifieddate` (the other objects' property) answers 200 with nothing, silently."""
    since = _ms(BASE)

    def modified_since(name: str) -> dict:
        return {"filterGroups": [{"filters": [{"propertyName": name, "operator": "GTE", "value": since}]}]}

    live = [i for i in range(1, N_CONTACTS + 1) if i % 50]
    assert crm.search("contacts", {**modified_since("lastmodifieddate"), "limit": 1}).json()["total"] == len(live)
    silent = crm.search("contacts", {**modified_since("hs_lastmodifieddate"), "limit": 200})
    assert silent.status_code == 200 and silent.json()["total"] == 0 and silent.json()["results"] == []
    asked = crm.get("/crm/v3/objects/contacts", params={"limit": 1, "properties": "hs_lastmodifieddate"}).json()
    assert asked["results"][0]["properties"]["hs_lastmodifieddate"] is None
    assert asked["results"][0]["properties"]["lastmodifieddate"] == asked["results"][0]["updatedAt"]

    crm.sim("POST", "/_sim/touch", {"object_type": "contacts", "ids": ["7"], "properties": {"statut_client": "perdu"}})
    touched = crm.search(
        "contacts",
        {
            **modified_since("lastmodifieddate"),
            "limit": 1,
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        },
    )
    assert touched.json()["results"][0]["id"] == "7"
    assert crm.search("contacts", modified_since("hs_lastmodifieddate")).json()["total"] == 0


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crm_big") / "crm.sqlite"
    conn = stores.connect_crm(path)
    sent = [BASE + timedelta(minutes=i) for i in range(10_050)]
    stores.upsert_crm_objects(
        conn,
        "p_survey_invitations",
        [
            {
                "id": str(i + 1),
                "created_at": stores.iso_utc(ts),
                "updated_at": stores.iso_utc(ts),
                "properties": {"survey_type": "CSAT", "sent_at": stores.iso_utc(ts), "hs_object_id": str(i + 1)},
            }
            for i, ts in enumerate(sent)
        ],
    )
    conn.close()
    return path


def test_search_pages_with_after_and_stops_at_10000_results(big_store: Path) -> None:
    with _serve(big_store, search_per_second=0) as crm:
        window = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "sent_at",
                            "operator": "BETWEEN",
                            "value": stores.iso_utc(BASE + timedelta(minutes=100)),
                            "highValue": str(_ms(BASE + timedelta(minutes=549))),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "sent_at", "direction": "ASCENDING"}],
            "limit": 200,
        }
        ids, after = [], "0"
        while after is not None:
            body = crm.search("p_survey_invitations", {**window, "after": after}).json()
            assert body["total"] == 450
            ids += [int(r["id"]) for r in body["results"]]
            after = body.get("paging", {}).get("next", {}).get("after")
        assert ids == list(range(101, 551))

        everything = {"limit": 200, "after": "9800"}
        body = crm.search("p_survey_invitations", everything).json()
        assert body["total"] == 10_050 and len(body["results"]) == 200
        assert body["paging"]["next"]["after"] == "10000"
        refused = crm.search("p_survey_invitations", {**everything, "after": "10000"})
        assert refused.status_code == 400
        assert refused.json()["status"] == "error" and "10000" in refused.json()["message"]


# --------------------------------------------------------------------------- owners, properties
def test_owners_and_properties(crm: Crm) -> None:
    first = crm.get("/crm/v3/owners", params={"limit": 2}).json()
    assert [o["id"] for o in first["results"]] == ["100", "101"]
    assert set(first["results"][0]) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "userId",
        "createdAt",
        "updatedAt",
        "archived",
        "teams",
    }
    rest = crm.get("/crm/v3/owners", params={"limit": 2, "after": first["paging"]["next"]["after"]}).json()
    assert [o["id"] for o in rest["results"]] == ["102"] and "paging" not in rest

    declared = {p["name"]: p for p in crm.get("/crm/v3/properties/tickets").json()["results"]}
    assert declared["nb_agent_replies"] == {
        "name": "nb_agent_replies",
        "label": "Agent replies",
        "type": "number",
        "fieldType": "number",
    }
    derived = {p["name"]: p["type"] for p in crm.get("/crm/v3/properties/contacts").json()["results"]}
    assert {"firstname", "email", "vip", "code_client_erp", "hs_object_id"} <= set(derived)
    assert derived["lastmodifieddate"] == "datetime" and derived["email"] == "string"


# --------------------------------------------------------------------------- auth, limits, faults
def test_missing_or_wrong_token_is_401_in_hubspot_shape(crm: Crm) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = requests.get(f"{crm.url}/crm/v3/objects/contacts", headers=headers, timeout=5)
        assert resp.status_code == 401
        body = resp.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION" and body["message"]
    assert requests.get(f"{crm.url}/_sim/stats", timeout=5).json()["unauthorized"] == 2


def test_a_task_without_due_date_is_refused_as_hubspot_does(crm: Crm) -> None:
    resp = crm.http.post(f"{crm.url}/crm/v3/objects/tasks", json={"properties": {"hs_task_subject": "x"}}, timeout=5)
    body = resp.json()
    assert resp.status_code == 400 and body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    assert body["message"] == "Error creating TASK. Some required properties were not set."
    assert body["context"] == {"properties": ["hs_timestamp"]}


def test_rate_limits_answer_429_with_retry_after_then_recover(store: Path) -> None:
    with _serve(store, rate_limit_per_10s=3) as crm:
        remaining = [crm.get("/crm/v3/objects/contacts").headers["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        limited = crm.get("/crm/v3/objects/contacts")
        assert limited.status_code == 429
        assert limited.json()["errorType"] == "RATE_LIMIT" and limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        crm.server.clock_skew += int(limited.headers["Retry-After"])  # rather than sleep through the window
        assert crm.get("/crm/v3/objects/contacts").status_code == 200

        crm.sim("POST", "/_sim/faults", {"rate_limit_per_10s": 1000, "search_per_second": 2})
        assert [crm.search("tickets", {}).status_code for _ in range(2)] == [200, 200]
        limited = crm.search("tickets", {})
        assert limited.status_code == 429 and limited.json()["policyName"] == "SECONDLY"
        assert limited.headers["Retry-After"] == "1"
        crm.server.clock_skew += 1
        assert crm.search("tickets", {}).status_code == 200
        assert crm.sim("GET", "/_sim/stats")["rate_limited"] == 2


def test_fault_switches(crm: Crm) -> None:
    crm.sim("POST", "/_sim/faults", {"fail_next": 2, "error_status": 502})
    statuses = [crm.get("/crm/v3/objects/contacts").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    crm.sim("POST", "/_sim/faults", {"error_rate": 1.0, "error_status": 503})
    failed = crm.get("/crm/v3/objects/contacts")
    assert failed.status_code == 503 and failed.json()["category"] == "INTERNAL_ERROR"
    assert crm.sim("DELETE", "/_sim/faults")["error_rate"] == 0.0

    # The latency fault holds the answer back: a client that will not wait that long times out,
    # one that will gets it (how long a request then takes: benchmarks/simulator_timings.py).
    crm.sim("POST", "/_sim/faults", {"latency_ms": 1500})
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{crm.url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.3)
    crm.sim("POST", "/_sim/faults", {"latency_ms": 200})
    assert crm.get("/crm/v3/objects/contacts").status_code == 200

    unknown = requests.post(f"{crm.url}/_sim/faults", json={"explode": True}, timeout=5)
    assert unknown.status_code == 400
    stats = crm.sim("GET", "/_sim/stats")
    assert stats["server_errors"] == 3 and stats["requests"] == 6


def test_timeout_next_makes_the_client_time_out(crm: Crm) -> None:
    crm.sim("POST", "/_sim/faults", {"timeout_next": 1})
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{crm.url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.5)
    assert crm.get("/crm/v3/objects/contacts").status_code == 200
    assert crm.sim("GET", "/_sim/stats")["timeouts"] == 1
