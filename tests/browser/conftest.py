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
_STACK = [sys.executable, str(REPO / "scripts" / "stack.py")]


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
def bi_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, server_url: str) -> DbtWorld:
    from cs_analytics.transform.bi_access import ensure_bi_reader

    world = shared_world(tmp_path_factory, request)
    if world.build_returncode != 0:  # type: ignore[attr-defined]
        pytest.fail(f"dbt build of the test world failed:\n{world.build_output[-3000:]}")  # type: ignore[attr-defined]
    ensure_bi_reader(world.warehouse, os.environ["BI_READER_PASSWORD"])
    _score_the_models(world, server_url, tmp_path_factory)
    return world


def _score_the_models(world: DbtWorld, server_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every model writes its `ml` table (tests/browser/scoring.py, churn and segments in a
    throw-away MLflow registry), then the `ml_outputs` marts are rebuilt and published as
    ml_scoring does, so the models dashboard and the plannings' travel times show a scoring run."""
    from cs_analytics.transform.publish import publish_ml_outputs
    from tests.browser.scoring import score_every_model
    from tests.conftest import throwaway_database

    scored = "select to_regclass('ml.churn_scores') is not null and exists (select 1 from ml.churn_scores)"
    if world.query(scored)[0][0]:
        return  # another module of the session scored it already
    as_of = world.query("select max(kpi_date) from marts.mart_kpi_daily")[0][0]
    with throwaway_database(server_url, "browser_mlflow") as url:
        score_every_model(world.warehouse, as_of, url, tmp_path_factory.mktemp("mlruns"), "browser_tests")
    # built into the hidden build schema like every mart, then published as ml_scoring does
    world.dbt("build", "--select", "tag:ml_outputs")  # with their tests, on real scores
    publish_ml_outputs(world.warehouse, world.root / "dbt_target" / "manifest.json")


@dataclass
class _SupersetBoot:
    env: dict[str, str]
    proc: subprocess.Popen
    log: Path


@pytest.fixture(scope="session")
def superset_boot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_SupersetBoot]:
    """`stack.py bi-up` started in the background: Superset's metadata migrations (~45 s on one
    core) need no warehouse, so they run while `bi_world` builds the dbt world."""
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
    }
    log = home / "bi-up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*_STACK, "bi-up"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield _SupersetBoot(env, proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([*_STACK, "bi-down"], env=env, cwd=REPO, capture_output=True, timeout=120)


# superset_boot before bi_world: pytest sets fixtures up in this order, so Superset starts first
@pytest.fixture(scope="session")
def superset(superset_boot: _SupersetBoot, bi_world: DbtWorld) -> SupersetInstance:
    try:
        returncode = superset_boot.proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Superset did not start within 900 s:\n{superset_boot.log.read_text()[-4000:]}")
    if returncode != 0:
        pytest.fail(f"Superset did not start:\n{superset_boot.log.read_text()[-4000:]}")
    env = {**superset_boot.env, "BI_WAREHOUSE_URL": bi_world.warehouse_url}
    provisioned = run_provision(env)
    return SupersetInstance(
        url=env["BI_URL"],
        env=env,
        world=bi_world,
        admin_user=env.get("BI_ADMIN_USER", "admin"),
        admin_password=env["BI_ADMIN_PASSWORD"],
        users_password=env["BI_USERS_PASSWORD"],
        provision_output=provisioned.stdout,
    )


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make browser` (Debian's chromium + chromium-driver)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
