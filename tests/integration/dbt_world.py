"""A small simulated world, loaded with the production loaders into a throw-away warehouse and
built with `dbt build`: the fixture the test_dbt_* modules share.

Generation (scale 0.3, one year) -> CRM and app APIs served in-process on the generated
stores -> cs_analytics.ingestion loaders (CRM, app, CTI landing folder, ERP from a throw-away
Sage database) -> `dbt build` against the scratch database (the marts land in their hidden
build schema, `marts_build`), artefacts in a temp target path so the project's own
target/manifest.json (which Airflow renders) is left alone -> the marts published to `marts`
as the transform DAG does once its gate passed (tests that re-run dbt read the build). Built once
per session, whichever test module asks first; both databases are dropped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest

from cs_analytics.config import IngestSettings
from cs_analytics.warehouse import Warehouse, drop_database

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
PARIS = ZoneInfo("Europe/Paris")
END_DATE = date(2026, 6, 30)
SEED = 11
TOKEN = "dbt-test-token"
LENIENT = IngestSettings(quarantine_max_rate=1.0)
MAILBOX = "service-client@service-client.local"


@dataclass
class DbtWorld:
    root: Path
    warehouse_url: str
    erp_url: str
    database: str
    build_seconds: float
    load_seconds: float
    results: list[dict]
    env: dict[str, str] = field(repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "sim"

    @property
    def truth_dir(self) -> Path:
        return self.root / "truth"

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url)

    def query(self, sql: str, params=None) -> list[tuple]:
        return self.warehouse.query(sql, params)

    def query_df(self, sql: str, params=None):
        return self.warehouse.query_df(sql, params)

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_dbt(self.root, self.env, *args, check=check)


def run_dbt(root: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [
        str(dbt) if dbt.exists() else "dbt",
        *args,
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(root / "dbt_target"),
        "--log-path", str(root / "dbt_logs"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-60:])
        pytest.fail(f"`dbt {' '.join(args)}` failed ({proc.returncode}):\n{tail}\n{proc.stderr[-2000:]}")
    return proc


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


def _dbt_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    env = dict(os.environ)
    env.update(
        WAREHOUSE_HOST=parts.hostname or "127.0.0.1",
        WAREHOUSE_PORT=str(parts.port or 5432),
        WAREHOUSE_USER=parts.username or "",
        WAREHOUSE_PASSWORD=parts.password or "",
        WAREHOUSE_DB=parts.path.lstrip("/"),
        DBT_TARGET="warehouse",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
    )
    return env


def _load_sources(world_root: Path, warehouse: Warehouse, erp_url: str) -> None:
    from cs_analytics.ingestion import crm, cti, erp, mobile_app
    from cs_analytics.ingestion.batch import BatchContext
    from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy
    from simulators import app_api, crm_api
    from simulators.httpbase import serve_in_thread

    end = datetime.combine(END_DATE + timedelta(days=1), datetime.min.time(), PARIS).astimezone(UTC)

    def ctx(source: str, obj: str) -> BatchContext:
        return BatchContext(source, obj, "test_dbt", "world", None, end)

    def session(conn_id: str, url: str) -> ApiSession:
        return ApiSession(conn_id, url, TOKEN, 30.0, RetryPolicy(max_retries=3, sleep=lambda s: None))

    crm_server = crm_api.make_server(
        store_path=world_root / "sim" / "crm.sqlite", token=TOKEN, rate_limit_per_10s=0, search_per_second=0
    )
    app_server = app_api.make_server(
        store_path=world_root / "sim" / "mobile_app.sqlite", token=TOKEN, rate_limit_per_10s=0
    )
    with serve_in_thread(crm_server) as crm_url, serve_in_thread(app_server) as app_url:
        client = crm.HubSpotClient(session("crm_api", crm_url))
        for obj in ("owners", *crm.OBJECTS):
            crm.load_object(warehouse, client, obj, ctx("crm", obj), LENIENT)
        app_client = mobile_app.MobileAppClient(session("mobile_app_api", app_url))
        for resource in mobile_app.RESOURCES:
            mobile_app.load_resource(warehouse, app_client, resource, ctx("mobile_app", resource), LENIENT)
    load_portal_and_mailbox(world_root / "sim", warehouse, ctx)
    cti.load_landing_folder(warehouse, world_root / "landing", ctx("cti", "calls"), LENIENT)
    source = Warehouse(erp_url)
    for table in erp.TABLES:
        erp.load_table(warehouse, source, table, ctx("erp", table), LENIENT)


def load_portal_and_mailbox(
    data_dir: Path, warehouse: Warehouse, ctx, settings: IngestSettings = LENIENT
) -> dict[str, int]:
    """The GA4 property and the shared mailbox of a generated world (`data_dir` = its SIM_DATA_DIR),
    through their simulators and the production loaders; `ctx(source, object)` makes each batch.
    Rows loaded per raw table. (The benchmarks load a world the same way.)"""
    from cs_analytics.ingestion import mailbox, portal_analytics
    from cs_analytics.ingestion.http_client import RetryPolicy
    from cs_analytics.ingestion.oauth import ClientCredentials, GoogleServiceAccount, OAuthApiSession
    from simulators import ga4_api, graph_api
    from simulators.httpbase import serve_in_thread

    retry = RetryPolicy(max_retries=3, sleep=lambda s: None)
    key_path = data_dir / "ga4-test-key.json"
    ga4 = ga4_api.make_server(store_path=data_dir / ga4_api.STORE_NAME, key_path=key_path)
    graph = graph_api.make_server(store_path=data_dir / graph_api.STORE_NAME, client_secret=TOKEN)
    rows = {}
    with serve_in_thread(ga4) as ga4_url, serve_in_thread(graph) as graph_url:
        key = {**GoogleServiceAccount.from_file("portal_analytics_api", key_path).key, "token_uri": f"{ga4_url}/token"}
        api = portal_analytics.Ga4Session(
            "portal_analytics_api", ga4_url, GoogleServiceAccount("portal_analytics_api", key), 30.0, retry
        )
        client = portal_analytics.Ga4Client(api, ga4_api.PROPERTY_ID)
        for report in portal_analytics.REPORTS:
            loaded = portal_analytics.load_report(warehouse, client, report, ctx("portal_analytics", report), settings)
            rows[f"{portal_analytics.SCHEMA}.{report}"] = loaded.rows_inserted
        tokens = ClientCredentials("mailbox_api", graph_url, graph_api.TENANT_ID, graph_api.CLIENT_ID, TOKEN)
        mail = mailbox.GraphMailClient(OAuthApiSession("mailbox_api", graph_url, tokens, 30.0, retry), MAILBOX)
        rows[mailbox.TABLE] = mailbox.load_messages(warehouse, mail, ctx("mailbox", "messages"), settings).rows_inserted
    return rows


_WORLD: DbtWorld | None = None


def build_world(tmp_root: Path) -> DbtWorld:
    from simulators.export import Destinations, generate
    from simulators.world import WorldConfig

    server_url = os.environ.get("WAREHOUSE_URL")
    erp_server_url = os.environ.get("ERP_DATABASE_URL") or server_url
    if not server_url:
        pytest.fail("WAREHOUSE_URL is not set: run the tests with `make test` (or scripts/run.sh pytest)")
    suffix = uuid.uuid4().hex[:10]
    database, erp_database = f"test_dbt_{suffix}", f"test_dbt_erp_{suffix}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
        conn.execute(f'create database "{erp_database}"')
    warehouse_url = _with_database(server_url, database)
    erp_url = _with_database(erp_server_url, erp_database)

    started = time.perf_counter()
    destinations = Destinations(
        data_dir=tmp_root / "sim", ground_truth_dir=tmp_root / "truth", landing_dir=tmp_root / "landing",
        database_url=erp_url, erp_schema="dbo",
    )  # fmt: skip
    generate(WorldConfig(end_date=END_DATE, seed=SEED, scale=0.3, years=1), destinations, log=lambda _: None)
    _load_sources(tmp_root, Warehouse(warehouse_url), erp_url)
    loaded = time.perf_counter()

    env = _dbt_env(warehouse_url)
    proc = run_dbt(tmp_root, env, "build", "--threads", "4", check=False)
    built = time.perf_counter()
    if proc.returncode == 0:
        from cs_analytics.transform.publish import publish_marts

        publish_marts(Warehouse(warehouse_url), tmp_root / "dbt_target" / "manifest.json")
    run_results = tmp_root / "dbt_target" / "run_results.json"
    results = json.loads(run_results.read_text())["results"] if run_results.exists() else []
    world = DbtWorld(
        root=tmp_root,
        warehouse_url=warehouse_url,
        erp_url=erp_url,
        database=database,
        build_seconds=built - loaded,
        load_seconds=loaded - started,
        results=results,
        env=env,
    )
    world.build_output = proc.stdout  # type: ignore[attr-defined]
    world.build_returncode = proc.returncode  # type: ignore[attr-defined]
    world.cleanup = lambda: (drop_database(server_url, database), drop_database(erp_server_url, erp_database))  # type: ignore[attr-defined]
    return world


def shared_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    """The built world, shared by every test_dbt_* module of the session: built by the first
    module that asks, dropped when the session ends. Each module wraps it in its own
    `dbt_world` fixture."""
    global _WORLD
    if _WORLD is None:
        _WORLD = build_world(tmp_path_factory.mktemp("dbt_world"))
        request.session.addfinalizer(_WORLD.cleanup)  # type: ignore[attr-defined]
    return _WORLD
