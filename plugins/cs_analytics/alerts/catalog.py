"""The columns each relation has, known without a database: what the rules file is checked against.

Two sources, both in the repository: the dbt models' YAML (every mart BI, ML or alerts read
has its columns documented, contract enforced; the folder gives the schema: staging,
intermediate, marts) and the platform's own DDL (`schema.py`: every meta.* and ml.* table and
view). A rule naming a column that is in neither is refused when the file is parsed, not when
the query runs at 07:00.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from cs_analytics.config import PROJECT_ROOT

DBT_MODELS = PROJECT_ROOT / "dbt_project" / "models"
DBT_SCHEMAS = ("staging", "intermediate", "marts")  # top-level model folders = schemas (dbt_project.yml)

_TABLE = re.compile(r"^create table if not exists (\w+\.\w+) \((.*?)\n\);", re.M | re.S)
_VIEW = re.compile(r"^create or replace view (\w+\.\w+) as\s+select\s+(.*?)\n\s*from\s", re.M | re.S | re.I)
_NOT_COLUMN = ("primary", "unique", "constraint", "check", "foreign", "--")


def _ddl_columns(ddl: str) -> dict[str, tuple[str, ...]]:
    relations: dict[str, tuple[str, ...]] = {}
    for name, body in _TABLE.findall(ddl):
        cols = []
        for line in body.splitlines():
            word = line.strip().split(" ", 1)[0].rstrip(",")
            if word and not word.lower().startswith(_NOT_COLUMN) and re.fullmatch(r"[a-z_][a-z0-9_]*", word):
                cols.append(word)
        relations[name] = tuple(cols)
    for name, select in _VIEW.findall(ddl):
        items, depth, current = [], 0, ""
        for ch in select:
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                items.append(current)
                current = ""
            else:
                current += ch
        items.append(current)
        cols = []
        for item in items:
            item = re.sub(r"--[^\n]*", "", item).strip()
            m = re.search(r"(?:\bas\s+|\.|^)(\w+)\s*$", item, re.I)
            if m:
                cols.append(m.group(1))
        relations[name] = tuple(cols)
    # `alter table ... add column if not exists x` extends a table
    for table, col in re.findall(r"alter table (\w+\.\w+) add column if not exists (\w+)", ddl):
        relations[table] = (*relations.get(table, ()), col)
    return relations


def _dbt_columns(models_dir: Path) -> dict[str, tuple[str, ...]]:
    relations: dict[str, tuple[str, ...]] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        schema = path.relative_to(models_dir).parts[0]
        if schema not in DBT_SCHEMAS:
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        for model in doc.get("models") or []:
            cols = tuple(c["name"] for c in model.get("columns") or [] if isinstance(c, dict) and c.get("name"))
            if cols:
                # a model published elsewhere (marts_pii: transform/publish.py) is read there
                published = ((model.get("config") or {}).get("meta") or {}).get("published_schema", schema)
                relations[f"{published}.{model['name']}"] = cols
    return relations


@lru_cache(maxsize=4)
def relation_columns(models_dir: Path = DBT_MODELS) -> dict[str, tuple[str, ...]]:
    """{"schema.relation": (column, ...)} for the dbt models and the platform's own tables."""
    from cs_analytics.schema import DDL

    return {**_dbt_columns(models_dir), **_ddl_columns(DDL)}
