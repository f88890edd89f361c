"""Every ingestion task of every source, run three times for the same interval through its
Airflow entry point (`cs_analytics.ingestion.tasks`, what the DAG's tasks call) on a generated
world, leaves every table identical: row counts and business-column checksums (state.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest

from cs_analytics.ingestion import tasks
from simulators import app_api, crm_api, ga4_api, graph_api
from simulators.export import Destinations, generate
from simulators.httpbase import serve_in_thread
from simulators.world import WorldConfig
from simulators.world.config import PARIS
from tests.conftest import throwaway_database
from tests.reliability.results import RESULTS
from tests.reliability.state import excluded_columns, snapshot

pytestmark = [pytest.mark.reliability, pytest.mark.integration]
END = date(2026, 1, 11)
DAY_END = datetime.combine(END + timedelta(days=1), datetime.min.time(), PARIS)
CRM = ["contacts", "tickets", "feedback_submissions", "p_survey_invitations", "owners"]
APP = ["technicians", "interventions", "field-quotes", "time-entries"]
ERP = ["F_COMPTET", "F_ARTICLE", "F_DOCENTETE", "F_DOCLIGNE", "F_ECRITUREC", "F_ECRITUREA", "F_JMOUV"]
GA4 = ["daily_traffic", "page_traffic"]


def run_all(run_id: str, start: datetime, end: datetime) -> None:
    def context(dag_id: str) -> dict:
        return {"dag": SimpleNamespace(dag_id=dag_id), "run_id": run_id, "data_interval_start": start,
                "data_interval_end": end, "params": {}}  # fmt: skip

    for obj in CRM:
        tasks.load_crm(obj, context("ingest_crm"))
    for obj in APP:
        tasks.load_mobile_app(obj, context("ingest_mobile_app"))
    for obj in ERP:
        tasks.load_erp(obj, context("ingest_erp"))
    for obj in GA4:
        tasks.load_portal_analytics(obj, context("ingest_portal_analytics"))
    tasks.load_mailbox(context("ingest_mailbox"))
    tasks.load_cti(context("ingest_cti"))


def test_three_runs_of_every_ingestion_task_for_one_interval_leave_every_table_identical(
    tmp_path, server_url, monkeypatch
):
    with throwaway_database(server_url, "idem_wh") as wh_url, throwaway_database(server_url, "idem_erp") as erp_url:
        dest = Destinations(tmp_path / "sim", tmp_path / "truth", tmp_path / "landing", erp_url)
        generate(WorldConfig(end_date=END, seed=11, scale=0.3, years=1), dest, log=lambda _: None)
        crm = crm_api.make_server(store_path=dest.data_dir / "crm.sqlite", token="t", rate_limit_per_10s=0,
                                  search_per_second=0)  # fmt: skip
        app = app_api.make_server(store_path=dest.data_dir / "mobile_app.sqlite", token="t", rate_limit_per_10s=0)
        ga4 = ga4_api.make_server(store_path=dest.data_dir / ga4_api.STORE_NAME, key_path=tmp_path / "ga4-key.json")
        graph = graph_api.make_server(store_path=dest.data_dir / graph_api.STORE_NAME, client_secret="s")
        with (
            serve_in_thread(crm) as crm_url,
            serve_in_thread(app) as app_url,
            serve_in_thread(ga4) as ga4_url,
            serve_in_thread(graph) as graph_url,
        ):
            pg = lambda url: url.replace("postgresql://", "postgres://", 1)  # noqa: E731
            env = {
                "AIRFLOW_CONN_WAREHOUSE": pg(wh_url),
                "AIRFLOW_CONN_ERP_DB": pg(erp_url),
                "AIRFLOW_CONN_CRM_API": json.dumps({"conn_type": "http", "host": crm_url, "password": "t"}),
                "AIRFLOW_CONN_MOBILE_APP_API": json.dumps({"conn_type": "http", "host": app_url, "password": "t"}),
                "AIRFLOW_CONN_PORTAL_ANALYTICS_API": json.dumps({"conn_type": "http", "host": ga4_url, "extra": {
                    "property_id": ga4_api.PROPERTY_ID, "key_path": str(tmp_path / "ga4-key.json"),
                    "token_uri": f"{ga4_url}/token"}}),
                "AIRFLOW_CONN_MAILBOX_API": json.dumps({"conn_type": "http", "host": graph_url,
                    "login": graph_api.CLIENT_ID, "password": "s", "extra": {"tenant_id": graph_api.TENANT_ID,
                    "mailbox": "service-client@service-client.local", "authority": graph_url}}),
                "AIRFLOW_CONN_CTI_LANDING": json.dumps({"conn_type": "fs", "extra": {"path": str(dest.landing_dir)}}),
            }  # fmt: skip
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            from cs_analytics.warehouse import Warehouse

            wh = Warehouse(wh_url)
            # A fresh warehouse catches up to the day before (the backfill), then the daily run, three times.
            run_all("backfill", DAY_END - timedelta(days=2), DAY_END - timedelta(days=1))
            states = []
            for _ in range(3):
                run_all("daily", DAY_END - timedelta(days=1), DAY_END)
                states.append(snapshot(wh))
            excluded = excluded_columns(wh)

    changed = {
        t: [s.get(t) for s in states] for t in sorted(set().union(*states)) if len({s.get(t) for s in states}) > 1
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingestion_idempotence.json").write_text(json.dumps({
        "runs": 3, "tables": len(states[0]), "rows": sum(n for n, _ in states[0].values()),
        "tables_changed": changed, "run_specific_columns_excluded": excluded}, indent=1, default=str))  # fmt: skip
    assert not changed, changed
    assert states[0]["raw_cti.calls"][0] > 0 and states[0]["raw_crm.tickets"][0] > 0
