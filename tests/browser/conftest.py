"""Fixtures of the browser tests: a real Superset started the way `make bi` starts it
(scripts/stack.py bi-up + cs_analytics.bi.provision), on a throw-away home and port, reading
the shared small dbt world (tests/integration/dbt_world.py) as bi_reader; and Debian's
Chromium driven by Playwright (`make browser` installs it; nothing is downloaded).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.pages import CHROMIUM_ARGS
from tests.integration.dbt_world import DbtWorld, shared_world

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
SCREENSHOTS = REPO / "build" / "screenshots"


@dataclass
class SupersetInstance:
    url: str
    env: dict[str, str]
    world: DbtWorld
    admin_user: str
    admin_password: str
    users_password: str
    provision_output: str

    def provision(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_provision(self.env, *args, check=check)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_provision(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "cs_analytics.bi.provision", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"provisioning failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def bi_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    from cs_analytics.transform.bi_access import ensure_bi_reader

    world = shared_world(tmp_path_factory, request)
    if world.build_returncode != 0:  # type: ignore[attr-defined]
        pytest.fail(f"dbt build of the test world failed:\n{world.build_output[-3000:]}")  # type: ignore[attr-defined]
    ensure_bi_reader(world.warehouse, os.environ["BI_READER_PASSWORD"])
    _score_the_forecast(world)
    return world


def _score_the_forecast(world: DbtWorld) -> None:
    """What ml_scoring does after the marts: the production forecast task writes
    ml.call_volume_forecast (empty when dbt built the world, so the `ml_outputs` marts were
    built empty), then the `ml_outputs` models are rebuilt and published and the models
    dashboard shows it."""
    import pendulum

    from cs_analytics.ml.forecast import run_call_forecast

    last_day = world.query("select max(kpi_date) from marts.mart_kpi_daily")[0][0]
    if world.query(
        "select to_regclass('ml.call_volume_forecast') is not null "
        "and exists (select 1 from ml.call_volume_forecast)"  # the schema module creates it empty
    )[0][0]:
        return  # another module of the session scored it already
    saved = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = world.warehouse_url
    try:
        end = pendulum.datetime(last_day.year, last_day.month, last_day.day, tz="Europe/Paris").add(days=1)
        run_call_forecast({"data_interval_end": end, "run_id": "browser_tests"})
    finally:
        if saved is None:
            os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)
        else:
            os.environ["AIRFLOW_CONN_WAREHOUSE"] = saved
    world.dbt("run", "--select", "tag:ml_outputs")
    # built into the hidden build schema like every mart: published as ml_scoring does
    from cs_analytics.transform.publish import publish_ml_outputs

    publish_ml_outputs(world.warehouse, world.root / "dbt_target" / "manifest.json")


@pytest.fixture(scope="session")
def superset(bi_world: DbtWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetInstance]:
    for key in ("BI_ADMIN_PASSWORD", "BI_USERS_PASSWORD", "BI_READER_PASSWORD", "SUPERSET_SECRET_KEY"):
        if not os.environ.get(key):
            pytest.fail(f"{key} is not set: run the tests with `make test` (or scripts/run.sh pytest)")
    if not (REPO / ".venv-bi" / "bin" / "superset").exists():
        pytest.fail(".venv-bi is missing: `make test` installs it (make install-bi)")
    home = tmp_path_factory.mktemp("superset")
    port = _free_port()
    env = {
        **os.environ,
        "SUPERSET_HOME": str(home),
        "SUPERSET_DATABASE_URL": f"sqlite:///{home / 'superset.db'}?check_same_thread=false",
        "BI_PORT": str(port),
        "BI_URL": f"http://127.0.0.1:{port}",
        "BI_WAREHOUSE_URL": bi_world.warehouse_url,
    }
    stack = [sys.executable, str(REPO / "scripts" / "stack.py")]
    up = subprocess.run([*stack, "bi-up"], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    try:
        if up.returncode != 0:
            pytest.fail(f"Superset did not start:\n{up.stderr[-4000:]}")
        provisioned = run_provision(env)
        yield SupersetInstance(
            url=env["BI_URL"],
            env=env,
            world=bi_world,
            admin_user=env.get("BI_ADMIN_USER", "admin"),
            admin_password=env["BI_ADMIN_PASSWORD"],
            users_password=env["BI_USERS_PASSWORD"],
            provision_output=provisioned.stdout,
        )
    finally:
        subprocess.run([*stack, "bi-down"], env=env, cwd=REPO, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make browser` (Debian's chromium + chromium-driver)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
