"""The GA4 Data API and Microsoft Graph simulators answer like the real APIs, quirks included
(their contracts: simulators/README.md), spoken to with plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from simulators import ga4_api, graph_api
from simulators.httpbase import serve_in_thread
from tests.integration.test_ingest_portal_mailbox import MAILBOX, SECRET, message, traffic

pytestmark = pytest.mark.integration


@pytest.fixture
def ga4(tmp_path) -> Iterator[tuple[str, dict]]:
    store = tmp_path / "ga4.sqlite"
    ga4_api.write_store(store, ga4_api.PROPERTY_ID, datetime(2026, 3, 10, 23, tzinfo=UTC), traffic())
    server = ga4_api.make_server(store_path=store, key_path=tmp_path / "key.json")
    with serve_in_thread(server) as url:
        key = server.service_account
        now = int(datetime.now(UTC).timestamp())
        assertion = jwt.encode(
            {"iss": key["client_email"], "scope": ga4_api.SCOPE, "aud": f"{url}/token", "iat": now, "exp": now + 3600},
            key["private_key"], algorithm="RS256",
        )  # fmt: skip
        token = requests.post(f"{url}/token", data={"grant_type": ga4_api.JWT_GRANT, "assertion": assertion}, timeout=5)
        yield url, {"Authorization": f"Bearer {token.json()['access_token']}"}


def report(url: str, headers: dict, **body) -> requests.Response:
    payload = {"dateRanges": [{"startDate": "2026-03-01", "endDate": "2026-03-10"}], "metrics": [{"name": "sessions"}]}
    return requests.post(
        f"{url}/v1beta/properties/{ga4_api.PROPERTY_ID}:runReport", json={**payload, **body}, headers=headers, timeout=5
    )


def test_ga4_report_shapes_dates_and_empty_reports(ga4):
    url, headers = ga4
    body = report(url, headers, dimensions=[{"name": "date"}], returnPropertyQuota=True).json()
    assert body["kind"] == "analyticsData#runReport" and body["rowCount"] == 10
    assert body["metricHeaders"] == [{"name": "sessions", "type": "TYPE_INTEGER"}]
    row = body["rows"][0]
    assert row["dimensionValues"][0]["value"].isdigit() and len(row["dimensionValues"][0]["value"]) == 8
    assert isinstance(row["metricValues"][0]["value"], str)
    assert body["propertyQuota"]["tokensPerHour"]["consumed"] >= 1
    # Without orderBys the rows come by the first metric, not by date.
    values = [int(r["metricValues"][0]["value"]) for r in body["rows"]]
    assert values == sorted(values, reverse=True)
    empty = report(url, headers, dateRanges=[{"startDate": "2020-01-01", "endDate": "2020-01-31"}]).json()
    assert "rows" not in empty and "rowCount" not in empty and empty["metadata"]["timeZone"] == "Europe/Paris"


def test_ga4_paging_limits_and_validation(ga4):
    url, headers = ga4
    order = [{"dimension": {"dimensionName": "date"}}, {"dimension": {"dimensionName": "pagePath"}}]
    dims = [{"name": "date"}, {"name": "pagePath"}]
    first = report(url, headers, dimensions=dims, orderBys=order, limit=7).json()
    second = report(url, headers, dimensions=dims, orderBys=order, limit=7, offset=7).json()
    assert first["rowCount"] == second["rowCount"] == 50 and len(first["rows"]) == len(second["rows"]) == 7
    keys = [[v["value"] for v in row["dimensionValues"]] for row in first["rows"] + second["rows"]]
    assert keys == sorted(keys) and len({tuple(k) for k in keys}) == 14
    capped = report(url, headers, dimensions=[{"name": "date"}], limit=10**7).json()
    assert len(capped["rows"]) == 10  # a limit over 250,000 is capped, not an error
    for bad, expected in (
        ({"dimensions": [{"name": "city"}]}, "is not a valid dimension"),
        ({"metrics": [{"name": "conversions"}]}, "Did you mean keyEvents"),
        ({"dateRanges": [{"startDate": "2026-03-10", "endDate": "2026-03-01"}]}, "must not be after"),
        ({"dateRanges": [{"startDate": "10/03/2026", "endDate": "today"}]}, "YYYY-MM-DD"),
        ({"limit": -1}, "limit must be positive"),
    ):
        resp = report(url, headers, **bad)
        assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT", bad
        assert expected in resp.json()["error"]["message"]
    assert report(url, {}).json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.fixture
def graph(tmp_path) -> Iterator[tuple[str, dict]]:
    store = tmp_path / "mailbox.sqlite"
    rows = [{"seq": i + 1, "folder": "inbox", "payload": message(i)} for i in range(25)]
    graph_api.write_store(store, MAILBOX, "Service client", rows, [])
    server = graph_api.make_server(store_path=store, client_secret=SECRET)
    with serve_in_thread(server) as url:
        token = requests.post(
            f"{url}/{graph_api.TENANT_ID}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": graph_api.CLIENT_ID, "client_secret": SECRET,
                  "scope": graph_api.GRAPH_SCOPE},
            timeout=5,
        ).json()  # fmt: skip
        yield url, {"Authorization": f"Bearer {token['access_token']}"}


def test_graph_list_messages_filters_orders_and_pages(graph):
    url, headers = graph
    base = f"{url}/v1.0/users/{MAILBOX}/mailFolders/inbox/messages"
    params = {"$filter": "receivedDateTime ge 2026-03-01T12:00:00Z", "$orderby": "receivedDateTime asc",
              "$select": "subject,receivedDateTime", "$top": "5", "$count": "true"}  # fmt: skip
    page = requests.get(base, params=params, headers=headers, timeout=5).json()
    first_received = [m["receivedDateTime"] for m in page["value"]]
    assert page["@odata.count"] == 18 and first_received == sorted(first_received)
    assert first_received[0] >= "2026-03-01T12:00:00Z" and set(page["value"][0]) == {
        "@odata.etag",
        "id",
        "subject",
        "receivedDateTime",
    }
    assert parse_qs(urlsplit(page["@odata.nextLink"]).query)["$skip"] == ["5"]
    newest_first = requests.get(base, headers=headers, timeout=5).json()
    assert len(newest_first["value"]) == 10 and newest_first["value"][0]["subject"] == "Demande n°24"
    inefficient = requests.get(base, params={"$filter": "receivedDateTime ge 2026-03-01T00:00:00Z",
                               "$orderby": "lastModifiedDateTime desc"}, headers=headers, timeout=5)  # fmt: skip
    assert inefficient.status_code == 400 and inefficient.json()["error"]["code"] == "InefficientFilter"
    unknown = requests.get(base, params={"$select": "nope"}, headers=headers, timeout=5)
    assert unknown.status_code == 400 and "Could not find a property named 'nope'" in unknown.json()["error"]["message"]
    folder = requests.get(f"{url}/v1.0/users/{MAILBOX}/mailFolders/inbox", headers=headers, timeout=5).json()
    assert folder["totalItemCount"] == 25 and folder["unreadItemCount"] == 25


def test_graph_delta_round_trip_and_token_errors(graph):
    url, headers = graph
    delta = f"{url}/v1.0/users/{MAILBOX}/mailFolders/inbox/messages/delta"
    page = requests.get(delta, headers={**headers, "Prefer": "odata.maxpagesize=20"}, timeout=5).json()
    assert len(page["value"]) == 20 and "@odata.nextLink" in page and "@odata.deltaLink" not in page
    last = requests.get(page["@odata.nextLink"], headers=headers, timeout=5).json()
    assert len(last["value"]) == 5 and "@odata.deltaLink" in last
    requests.post(f"{url}/_sim/messages/move", json={"ids": ["AAMkADmsg0003"], "folder": "junkemail"}, timeout=5)
    changes = requests.get(last["@odata.deltaLink"], headers=headers, timeout=5).json()["value"]
    assert changes == [
        {"@odata.type": "#microsoft.graph.message", "id": "AAMkADmsg0003", "@removed": {"reason": "deleted"}}
    ]
    bad_filter = requests.get(
        delta, params={"$filter": "receivedDateTime lt 2026-03-02T00:00:00Z"}, headers=headers, timeout=5
    )
    assert bad_filter.status_code == 400
    missing = requests.get(delta, timeout=5).json()["error"]
    assert missing["code"] == "InvalidAuthenticationToken" and missing["message"] == "Access token is empty."
    wrong = requests.post(f"{url}/{graph_api.TENANT_ID}/oauth2/v2.0/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": graph_api.CLIENT_ID, "client_secret": "x", "scope": graph_api.GRAPH_SCOPE})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
