"""`dbt source freshness` on the loaded demo world (the strict CI's freshness step): every source
table with a `freshness:` block in models/staging/*/_*__sources.yml is checked, and the world
the loaders just wrote meets every threshold; a table whose loads stopped three days ago fails,
named with its threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.dbt_world import DBT_PROJECT, DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


def tables_with_freshness() -> set[str]:
    """`source.table` for each table whose effective freshness (its own config, else its source's) is set."""
    wanted = set()
    for path in DBT_PROJECT.glob("models/**/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text()).get("sources", []):
            default = (source.get("config") or {}).get("freshness", source.get("freshness"))
            for table in source.get("tables", []):
                config = table.get("config") or {}
                freshness = config["freshness"] if "freshness" in config else table.get("freshness", default)
                if freshness:
                    wanted.add(f"{source['name']}.{table['name']}")
    return wanted


def freshness(world: DbtWorld, out: Path, *select: str) -> tuple[int, dict[str, dict]]:
    args = ["source", "freshness", "--output", str(out), *(["--select", *select] if select else [])]
    proc = world.dbt(*args, check=False)
    results = json.loads(out.read_text())["results"] if out.exists() else []
    by_table = {".".join(r["unique_id"].split(".")[-2:]): r for r in results}
    assert by_table, f"dbt source freshness wrote no results:\n{proc.stdout[-3000:]}"
    return proc.returncode, by_table


def test_every_source_with_a_threshold_is_fresh(dbt_world, tmp_path):
    wanted = tables_with_freshness()
    assert len(wanted) >= 15, wanted  # CRM, CTI, ERP, app, portal, mailbox, weather
    code, results = freshness(dbt_world, tmp_path / "sources.json")
    assert set(results) == wanted
    not_pass = {
        t: (r["status"], r.get("max_loaded_at"), r.get("criteria")) for t, r in results.items() if r["status"] != "pass"
    }
    assert not not_pass, not_pass
    assert code == 0


def test_a_source_whose_loads_stopped_fails_with_its_threshold(dbt_world, tmp_path):
    """Three days without a CRM ticket load: past the 54 h error threshold."""
    age = "interval '3 days'"
    dbt_world.warehouse.execute(f"update raw_crm.tickets set _loaded_at = _loaded_at - {age}")
    try:
        code, results = freshness(dbt_world, tmp_path / "stale.json", "source:crm.tickets")
    finally:
        dbt_world.warehouse.execute(f"update raw_crm.tickets set _loaded_at = _loaded_at + {age}")
    assert code != 0
    assert results["crm.tickets"]["status"] == "error"
    assert results["crm.tickets"]["criteria"]["error_after"] == {"count": 54, "period": "hour"}
