"""The daily ingestion under CeleryExecutor with two workers on loopback, on a small throw-away
world: shared by tests/e2e/test_celery.py (asserts) and benchmarks/celery_workers.py (records).

Real parts: redis-server (broker and result backend), `airflow api-server`, `scheduler`,
`dag-processor`, `triggerer` and two `airflow celery worker` processes (worker-a, worker-b), in
their own AIRFLOW_HOME and throw-away metadata database (the LocalExecutor setup the other tests
use is untouched); the world (scale 0.3, one year) served by the simulators in this process and
loaded into a throw-away warehouse. The seven ingestion DAGs are triggered for END and run
through the scheduler.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from scripts.celery_run import INGESTION, CeleryStack, free_port, start_redis, stop
from simulators import app_api, crm_api, ga4_api, graph_api, weather_api
from simulators.export import WEATHER_STORE, Destinations, generate
from simulators.httpbase import serve_in_thread
from simulators.world import WorldConfig
from simulators.world.config import PARIS
from tests.conftest import throwaway_database

END = date(2026, 1, 11)
RUN_AFTER = datetime.combine(END + timedelta(days=1), datetime.min.time(), PARIS)
GRAPH_SECRET = "graph-celery"


def _conn(url: str) -> str:
    return url.replace("postgresql://", "postgres://", 1)


@contextmanager
def celery_ingestion(tmp: Path, server_url: str) -> Iterator[dict]:
    """Generate the world, serve it, start Redis and the Celery stack, run the ingestion DAGs for
    END and yield {"states", "tis", "seconds"}; everything stopped and dropped on exit."""
    started = time.time()
    with (
        throwaway_database(server_url, "celery_wh") as wh_url,
        throwaway_database(server_url, "celery_erp") as erp_url,
        throwaway_database(server_url, "celery_af") as airflow_url,
    ):
        dest = Destinations(tmp / "sim", tmp / "truth", tmp / "landing", erp_url)
        generate(WorldConfig(end_date=END, seed=5, scale=0.3, years=1), dest, log=lambda _: None)
        crm = crm_api.make_server(
            store_path=dest.data_dir / "crm.sqlite", token="crm-celery", rate_limit_per_10s=0, search_per_second=0
        )
        app = app_api.make_server(
            store_path=dest.data_dir / "mobile_app.sqlite", token="app-celery", rate_limit_per_10s=0
        )
        ga4 = ga4_api.make_server(store_path=dest.data_dir / ga4_api.STORE_NAME, key_path=tmp / "ga4-key.json")
        graph = graph_api.make_server(store_path=dest.data_dir / graph_api.STORE_NAME, client_secret=GRAPH_SECRET)
        weather = weather_api.make_server(store_path=dest.data_dir / WEATHER_STORE, calls_per_minute=0)
        broker_port = free_port()
        with (
            serve_in_thread(crm) as crm_url,
            serve_in_thread(app) as app_url,
            serve_in_thread(ga4) as ga4_url,
            serve_in_thread(graph) as graph_url,
            serve_in_thread(weather) as weather_url,
        ):
            env = dict(os.environ)
            env.update(
                {
                    "AIRFLOW_CONN_WAREHOUSE": _conn(wh_url),
                    "AIRFLOW_CONN_ERP_DB": _conn(erp_url),
                    "AIRFLOW_CONN_CRM_API": json.dumps(
                        {"conn_type": "http", "host": crm_url, "password": "crm-celery"}
                    ),
                    "AIRFLOW_CONN_MOBILE_APP_API": json.dumps(
                        {"conn_type": "http", "host": app_url, "password": "app-celery"}
                    ),
                    "AIRFLOW_CONN_PORTAL_ANALYTICS_API": json.dumps(
                        {
                            "conn_type": "http",
                            "host": ga4_url,
                            "extra": {
                                "property_id": ga4_api.PROPERTY_ID,
                                "key_path": str(tmp / "ga4-key.json"),
                                "token_uri": f"{ga4_url}/token",
                            },
                        }
                    ),
                    "AIRFLOW_CONN_MAILBOX_API": json.dumps(
                        {
                            "conn_type": "http",
                            "host": graph_url,
                            "login": graph_api.CLIENT_ID,
                            "password": GRAPH_SECRET,
                            "extra": {
                                "tenant_id": graph_api.TENANT_ID,
                                "mailbox": "service-client@service-client.local",
                                "authority": graph_url,
                            },
                        }
                    ),
                    "AIRFLOW_CONN_WEATHER_API": json.dumps({"conn_type": "http", "host": weather_url}),
                    "WEATHER_FORECAST_BACKFILL_DAYS": "30",
                    "AIRFLOW_CONN_CTI_LANDING": json.dumps(
                        {"conn_type": "fs", "extra": {"path": str(dest.landing_dir)}}
                    ),
                    "TASK_RETRY_DELAY_SECONDS": "1",
                }
            )
            stack = CeleryStack(
                home=tmp / "airflow",
                metadata_url=airflow_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                broker_port=broker_port,
                api_port=free_port(),
                base_env=env,
            )
            redis = start_redis(broker_port, tmp / "redis")
            try:
                stack.migrate()
                stack.start(INGESTION)
                runs = stack.trigger(INGESTION, RUN_AFTER)
                states = stack.wait(runs, timeout=600)
                tis = stack.task_instances(runs)
                seconds = round(time.time() - started, 1)
                yield {"states": states, "tis": tis, "seconds": seconds, "run_seconds": stack.run_seconds(runs)}
            finally:
                stack.stop()
                stop(redis)
