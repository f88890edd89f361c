"""docker-compose.yaml is valid against the Compose specification (no Docker engine here to run it).

tests/fixtures/compose_spec.json is the Compose Specification JSON schema (Apache-2.0), as
shipped in docker-compose 1.29.2 (compose/config/compose_spec.json).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_file_matches_the_compose_spec():
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose_spec.json").read_text())
    doc = compose()
    jsonschema.validate(doc, schema)
    # Airflow's official layout (CeleryExecutor) plus the warehouse, sources, mail catcher and BI
    official = {"postgres", "redis", "airflow-init", "airflow-api-server", "airflow-scheduler",
                "airflow-dag-processor", "airflow-worker", "airflow-triggerer"}  # fmt: skip
    ours = {"sim-generate", "crm-sim", "app-sim", "ga4-sim", "graph-sim", "weather-sim", "slack-sim", "mailpit",
            "superset", "superset-init", "superset-provision"}  # fmt: skip
    assert official | ours <= set(doc["services"]), sorted(official | ours - set(doc["services"]))
    airflow_env = doc["services"]["airflow-scheduler"]["environment"]
    assert airflow_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert airflow_env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert doc["services"]["airflow-worker"]["command"][-2:] == ["celery", "worker"]


def test_every_service_the_readme_names_is_in_the_compose_file():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in containers", 1)[1].split("\n## ", 1)[0]
    named = {name for name in re.findall(r"`([a-z][a-z0-9-]*)`", section)}
    assert len(named) >= 10, named
    missing = named - set(compose()["services"])
    assert not missing, f"README's 'Running in containers' names services docker-compose.yaml lacks: {sorted(missing)}"


def test_every_build_context_and_mounted_path_exists():
    doc = compose()
    for name, service in doc["services"].items():
        build = service.get("build")
        if build is not None:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            assert context.is_dir(), f"{name}: build context {context} is missing"
            dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):  # a bind mount (named volumes are declared below)
                assert (ROOT / source).exists(), f"{name}: mounted path {source} does not exist"
            else:
                assert source in (doc.get("volumes") or {}), f"{name}: volume {source} is not declared"
        for env_file in service.get("env_file") or []:
            assert env_file == ".env" or (ROOT / env_file).exists(), f"{name}: env_file {env_file} is missing"


def test_compose_file_holds_no_secret_values():
    text = (ROOT / "docker-compose.yaml").read_text()
    doc = yaml.safe_load(text)
    secret_key = re.compile(r"(password|token|api_key|secret)", re.I)
    for name, service in doc["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_key.search(key):
                assert "${" in str(value), f"{name}: {key} must come from .env, not a literal"
    # Passwords inside connection JSON strings too.
    for value in re.findall(r'"password": "([^"]*)"', text):
        assert value.startswith("${"), f"literal password in a connection: {value}"
    documented = (ROOT / ".env.example").read_text()
    for var in set(re.findall(r"(?<!\$)\$\{(\w+)", text)):  # $${VAR}: the container's own, not .env's
        assert var in documented, f"{var} is used by docker-compose.yaml but not documented in .env.example"
