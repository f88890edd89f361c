"""bi/*.yaml -> Superset import bundle: stable UUIDs, every name checked, bad input named.

The catalog here comes from the presentation marts' dbt contracts (their columns and types),
so the real specs are checked against what dbt promises; tests/browser/ checks them against
a real warehouse and a real Superset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cs_analytics.bi.specs import SPEC_DIR, Catalog, SpecError, build_bundle

REPO = Path(__file__).resolve().parents[2]
PRESENTATION = REPO / "dbt_project" / "models" / "marts" / "presentation"
URI = "postgresql+psycopg2://bi_reader:XXXXXXXXXX@127.0.0.1:5432/warehouse"


def contract_catalog() -> Catalog:
    catalog: Catalog = {}
    for path in PRESENTATION.rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            catalog[model["name"]] = {c["name"]: c["data_type"] for c in model["columns"]}
    return catalog


def no_sql_errors(table: str, select: str, where: str) -> str | None:
    return None


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    target = tmp_path / "bi"
    shutil.copytree(SPEC_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def test_real_specs_build_against_the_presentation_contracts():
    bundle = build_bundle(contract_catalog(), no_sql_errors, URI)
    assert {d.slug for d in bundle.dashboards} == {"direction", "operations", "technician", "models"}
    files = bundle.files
    assert "metadata.yaml" in files and "databases/warehouse.yaml" in files
    charts = [yaml.safe_load(text) for name, text in files.items() if name.startswith("charts/")]
    assert charts and all(c["dataset_uuid"] in bundle.datasets.values() for c in charts)
    # every chart placed on its dashboard, and the password never in the bundle
    for dashboard in bundle.dashboards:
        position = yaml.safe_load(files[f"dashboards/{dashboard.key}.yaml"])["position"]
        placed = {v["meta"]["uuid"] for v in position.values() if isinstance(v, dict) and v.get("type") == "CHART"}
        assert placed == set(dashboard.charts.values())
    assert "XXXXXXXXXX" in files["databases/warehouse.yaml"]


def test_uuids_are_stable_so_a_reimport_overwrites():
    first = build_bundle(contract_catalog(), no_sql_errors, URI)
    second = build_bundle(contract_catalog(), no_sql_errors, URI)
    strip = lambda files: {k: v for k, v in files.items() if k != "metadata.yaml"}  # noqa: E731 (timestamp)
    assert strip(first.files) == strip(second.files)


def test_a_chart_on_an_undeclared_dataset_names_the_file_and_the_dataset(spec_copy: Path):
    path = spec_copy / "dashboards" / "direction.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["charts"]["top_motives"]["dataset"] = "pres_call_motivez"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(SpecError, match=r"direction\.yaml: chart 'top_motives': dataset 'pres_call_motivez'"):
        build_bundle(contract_catalog(), no_sql_errors, URI, spec_dir=spec_copy)


def test_a_missing_column_names_the_file_the_chart_and_the_column(spec_copy: Path):
    path = spec_copy / "dashboards" / "operations.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["charts"]["callbacks"]["columns"].append("customer_fax")
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(SpecError, match=r"operations\.yaml: chart 'callbacks': column 'customer_fax' is not in marts"):
        build_bundle(contract_catalog(), no_sql_errors, URI, spec_dir=spec_copy)


def test_a_dataset_missing_from_the_warehouse_names_datasets_yaml(spec_copy: Path):
    catalog = contract_catalog()
    del catalog["pres_call_motives"]
    with pytest.raises(SpecError, match=r"bi/datasets\.yaml|datasets\.yaml: dataset 'pres_call_motives'"):
        build_bundle(catalog, no_sql_errors, URI, spec_dir=spec_copy)


def test_a_metric_the_database_rejects_names_the_metric_and_the_error(spec_copy: Path):
    def rejects_typos(table: str, select: str, where: str) -> str | None:
        return 'column "avg_satisfacton" does not exist' if "avg_satisfacton" in select else None

    path = spec_copy / "datasets.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["datasets"]["pres_direction_monthly"]["metrics"]["satisfaction"]["sql"] = "avg(avg_satisfacton)"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(
        SpecError, match=r"metric 'satisfaction' \(avg\(avg_satisfacton\)\): column \"avg_satisfacton\""
    ):
        build_bundle(contract_catalog(), rejects_typos, URI, spec_dir=spec_copy)


def test_a_chart_left_out_of_the_layout_is_an_error(spec_copy: Path):
    path = spec_copy / "dashboards" / "direction.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["layout"] = [row for row in spec["layout"] if "top_motives" not in row]
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(SpecError, match=r"top_motives are defined but not placed"):
        build_bundle(contract_catalog(), no_sql_errors, URI, spec_dir=spec_copy)
