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


def test_compose_file_matches_the_compose_spec():
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose_spec.json").read_text())
    doc = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    jsonschema.validate(doc, schema)
    assert {"postgres", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "crm-sim"} <= set(
        doc["services"]
    )


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
    for var in set(re.findall(r"\$\{(\w+)", text)):
        assert var in documented, f"{var} is used by docker-compose.yaml but not documented in .env.example"
