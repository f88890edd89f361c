"""Shared fixtures. Everything that touches a database uses the real local PostgreSQL
(`make test` starts it), each test in a throw-away database dropped at the end.

`make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadgroup`): a module's tests
stay on one worker, so its module-scoped fixture (a whole pipeline run) is built once; see
`pytest_collection_modifyitems` for what else must share a worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from cs_analytics.warehouse import Warehouse, drop_database

# The modules that run Airflow on the local metadata database (`airflow dags test`, the UI): each
# `dags test` first writes every DAG of the folder to it, and two such writes at once collide.
AIRFLOW_METADATA = pytest.mark.xdist_group("airflow_metadata")
# The fixtures of the session's shared dbt world (tests/integration/dbt_world.py): built once per worker.
_SHARED_WORLD = {"dbt_world", "bi_world"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every module gets one xdist group: AIRFLOW_METADATA where a module says so, one group for the
    modules on the shared dbt world (it is built once and the modules change it in turn), else the
    module's own."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    for path, module_items in modules.items():
        if any(item.get_closest_marker("xdist_group") for item in module_items):
            continue
        shares_world = any(_SHARED_WORLD & set(item.fixturenames) for item in module_items)
        group = pytest.mark.xdist_group("shared_dbt_world" if shares_world else path)
        for item in module_items:
            item.add_marker(group)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and config.option.dist != "loadgroup":
        raise pytest.UsageError("with -n, run with --dist loadgroup (as make test does): see tests/conftest.py")


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker, refuse to run ungrouped: pytest 9.2 ignores the group xdist 3.8 writes
    into the node id (pytest-xdist#1386), and ungrouped tests would silently build a module's
    pipeline on both workers at once, colliding in the Airflow metadata DB."""
    if getattr(session.config.option, "loadgroup", False) and session.items and "@" not in session.items[0].nodeid:
        raise pytest.UsageError(
            f"pytest-xdist did not group the tests (pytest {pytest.__version__}; pytest-xdist#1386): "
            "keep the pytest pinned in requirements.txt, or run without -n"
        )


def url_with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("WAREHOUSE_URL")
    if not url:
        pytest.fail("WAREHOUSE_URL is not set: run the tests with `make test` (or scripts/run.sh pytest)")
    return url


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield url_with_database(server_url, name)
    finally:
        drop_database(server_url, name)


@pytest.fixture
def scratch_db_url(server_url: str) -> Iterator[str]:
    """URL of a new, empty database on the warehouse server; dropped after the test."""
    with throwaway_database(server_url, "test") as url:
        yield url


@pytest.fixture
def warehouse(scratch_db_url: str) -> Warehouse:
    return Warehouse(scratch_db_url)


@pytest.fixture
def second_db_url(server_url: str) -> Iterator[str]:
    """Another throw-away database, e.g. to play a source system next to the warehouse."""
    with throwaway_database(server_url, "test_src") as url:
        yield url
