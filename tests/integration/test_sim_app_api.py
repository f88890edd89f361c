"""The mobile-app API simulator, served in-process over a small store built per test."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from simulators import app_api, stores
from simulators.httpbase import serve_in_thread
from tests.integration.cli import serving_cli

TOKEN = "app-test-key"
BASE = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
N_INTERVENTIONS = 300


def _intervention(i: int) -> dict:
    # Three records share each updated_at, so the keyset needs its id tie-break.
    return {
        "id": f"INT-{i:06d}",
        "technician_id": f"TECH-0{1 + i % 4}",
        "customer_code": f"CL{i:06d}",
        "type": "breakdown",
        "status": "scheduled",
        "scheduled_start": "2025-03-04T09:00:00+01:00",
        "address": {"city": "Lyon", "postal_code": "69003", "latitude": 45.76, "longitude": 4.85},
        "satisfaction_score": None,
        "updated_at": stores.iso_utc(BASE + timedelta(minutes=i // 3)),
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "mobile_app.sqlite"
    conn = stores.connect_app(path)
    records = [_intervention(i) for i in range(N_INTERVENTIONS)]
    random.Random(3).shuffle(records)
    stores.upsert_app_records(conn, "interventions", records)
    stores.upsert_app_records(
        conn,
        "technicians",
        [
            {
                "id": f"TECH-0{k}",
                "first_name": f"Tech{k}",
                "home_base": {"city": "Villeurbanne"},
                "skills": ["gaz"],
                "active": True,
                "updated_at": stores.iso_utc(BASE),
            }
            for k in range(1, 5)
        ],
    )
    conn.close()
    return path


@pytest.fixture
def app(store: Path) -> Iterator[tuple[app_api.AppServer, str, requests.Session]]:
    server = app_api.make_server(store_path=store, token=TOKEN, rate_limit_per_10s=0)
    with serve_in_thread(server) as url, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        yield server, url, http


def _page_all(http: requests.Session, url: str, on_page=None, **params) -> list[dict]:
    served, cursor, pages = [], None, 0
    while True:
        body = http.get(
            f"{url}/api/v1/interventions", params={**params, **({"cursor": cursor} if cursor else {})}, timeout=5
        ).json()
        served += body["data"]
        pages += 1
        if on_page:
            on_page(pages, body)
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return served
        cursor = body["next_cursor"]


def test_pages_every_record_once_in_keyset_order_from_an_inclusive_updated_since(app) -> None:
    _, url, http = app
    all_records = _page_all(http, url, limit=70)
    assert [r["id"] for r in all_records] == [f"INT-{i:06d}" for i in range(N_INTERVENTIONS)]
    assert all_records[5]["address"]["city"] == "Lyon"  # payloads served as stored

    # 09:50+01:00 is 08:50Z, the updated_at of INT-000150..152; the `+` goes unencoded on purpose.
    since = http.get(f"{url}/api/v1/interventions?limit=500&updated_since=2025-03-01T09:50:00+01:00", timeout=5)
    assert [r["id"] for r in since.json()["data"]] == [f"INT-{i:06d}" for i in range(150, N_INTERVENTIONS)]

    technicians = http.get(f"{url}/api/v1/technicians", timeout=5).json()
    assert [t["id"] for t in technicians["data"]] == ["TECH-01", "TECH-02", "TECH-03", "TECH-04"]
    assert technicians["has_more"] is False and technicians["data"][0]["skills"] == ["gaz"]


def test_a_record_touched_mid_paging_is_served_again_later(app) -> None:
    _, url, http = app
    touches = []

    def touch_after_first_page(page: int, body: dict) -> None:
        if page == 1:
            resp = requests.post(
                f"{url}/_sim/touch",
                json={"resource": "interventions", "ids": ["INT-000005", "INT-000250"], "fields": {"status": "done"}},
                timeout=5,
            )
            touches.append(resp.json())

    served = _page_all(http, url, on_page=touch_after_first_page, limit=100)
    (touch,) = touches
    assert touch["touched"] == ["INT-000005", "INT-000250"] and touch["missing"] == []
    copies = [r for r in served if r["id"] == "INT-000005"]
    assert [c["status"] for c in copies] == ["scheduled", "done"]
    assert copies[1]["updated_at"] == touch["updated_at"]
    assert [r["status"] for r in served if r["id"] == "INT-000250"] == ["done"]  # not yet served: once, new version
    latest = {r["id"]: r for r in served}
    assert len(served) == N_INTERVENTIONS + 1 and len(latest) == N_INTERVENTIONS

    # The column moved with the payload: an incremental read from the touch time finds both.
    recent = http.get(f"{url}/api/v1/interventions", params={"updated_since": touch["updated_at"]}, timeout=5)
    assert [r["id"] for r in recent.json()["data"]] == ["INT-000005", "INT-000250"]


def test_validation_and_auth(app) -> None:
    _, url, http = app
    for params in (
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"cursor": "garbage!"},
        {"updated_since": "yesterday"},
    ):
        assert http.get(f"{url}/api/v1/interventions", params=params, timeout=5).status_code == 400, params
    assert http.get(f"{url}/api/v1/invoices", timeout=5).status_code == 404
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = requests.get(f"{url}/api/v1/interventions", headers=headers, timeout=5)
        assert resp.status_code == 401 and resp.json() == {"error": "unauthorized"}


def test_rate_limit_faults_and_stats(store: Path) -> None:
    server = app_api.make_server(store_path=store, token=TOKEN, rate_limit_per_10s=2)
    with serve_in_thread(server) as url, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        endpoint = f"{url}/api/v1/technicians"
        assert [http.get(endpoint, timeout=5).status_code for _ in range(2)] == [200, 200]
        limited = http.get(endpoint, timeout=5)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 10
        server.clock_skew += retry_after
        assert http.get(endpoint, timeout=5).status_code == 200

        requests.post(
            f"{url}/_sim/faults", json={"rate_limit_per_10s": 0, "fail_next": 1, "error_status": 500}, timeout=5
        )
        assert [http.get(endpoint, timeout=5).status_code for _ in range(2)] == [500, 200]
        requests.post(f"{url}/_sim/faults", json={"error_rate": 1.0, "error_status": 503}, timeout=5)
        assert http.get(endpoint, timeout=5).status_code == 503
        requests.post(f"{url}/_sim/faults", json={"error_rate": 0.0, "timeout_next": 1}, timeout=5)
        with pytest.raises(requests.exceptions.Timeout):
            http.get(endpoint, timeout=0.4)
        assert http.get(endpoint, timeout=5).status_code == 200

        stats = requests.get(f"{url}/_sim/stats", timeout=5).json()
        assert stats["requests"] == 9 and stats["rate_limited"] == 1 and stats["server_errors"] == 2
        assert stats["timeouts"] == 1 and stats["by_status"]["200"] == 5


def test_cli_serves_until_sigterm(store: Path) -> None:
    env = {**os.environ, "APP_SIM_API_KEY": TOKEN, "SIM_DATA_DIR": str(store.parent)}
    with serving_cli("simulators.app_api", env) as url:  # how fast it answers and stops: benchmarks/
        assert url.startswith("http://127.0.0.1:"), url
        resp = requests.get(f"{url}/api/v1/technicians", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert len(resp.json()["data"]) == 4  # read SIM_DATA_DIR/mobile_app.sqlite
