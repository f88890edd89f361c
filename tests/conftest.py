"""Shared fixtures. Everything that touches a database uses the real local PostgreSQL
(`make test` starts it), each test in a throw-away database dropped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from cs_analytics.warehouse import Warehouse, drop_database


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
