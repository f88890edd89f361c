"""Write-audit-publish: readers see the last good marts or the new good ones, never a build
that failed its checks, never half of one.

dbt builds the marts into a schema no reader is granted (`marts_build`, set once in
dbt_project.yml); the quality gate audits them there; only when it passes does `publish`
copy every built table over its published twin (`marts.<table>`) in ONE transaction, with
the readers' grants, so BI, ML and alerts switch from yesterday's marts to today's at the
commit. The build keeps its tables: the incremental facts read their own state there on the
next run, and the published copies can be dropped and re-published at will.

Generic: `publish(warehouse, relations)` takes any list of build -> published relations, so
another flow (ML presentation marts) publishes the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

PUBLISHED_SCHEMA = "marts"
# Who reads the published marts (the roles that exist get SELECT): BI, the models, the alerts.
# The clear customer contacts are published to marts_pii instead (roles.py: alerting only).
MART_READERS = ("bi_reader", "ml", "alerting")
PII_READERS = ("alerting",)
READERS = {PUBLISHED_SCHEMA: MART_READERS, "marts_pii": PII_READERS}
# Readers wait for the swap rather than see it half done; BI queries are capped at 120 s
# (bi_reader's statement_timeout), so the publish waits at most that long for their locks.
LOCK_TIMEOUT = "150s"


@dataclass(frozen=True)
class Relation:
    """A built table and the name readers know it by, both `schema.table`."""

    built: str
    published: str

    def parts(self) -> tuple[tuple[str, str], tuple[str, str]]:
        b, p = self.built.split("."), self.published.split(".")
        if len(b) != 2 or len(p) != 2:
            raise ValueError(f"relations are schema.table: {self.built!r} -> {self.published!r}")
        return (b[0], b[1]), (p[0], p[1])


@dataclass
class PublishResult:
    relations: list[str] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"relations": self.relations, "rows": self.rows, "seconds": round(self.seconds, 2)}


def publish(
    warehouse: Warehouse, relations: Sequence[Relation], readers: Iterable[str] | Mapping[str, Iterable[str]] = ()
) -> PublishResult:
    """Replace every published relation by a copy of its build, and grant SELECT on it to the
    `readers` roles that exist (a mapping: per published schema), in one transaction: all or
    nothing, readers never in between."""
    started = time.perf_counter()
    result = PublishResult()
    if not relations:
        raise ValueError("nothing to publish: no relation given")
    with warehouse.transaction() as conn:
        conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        by_schema = readers if isinstance(readers, Mapping) else {None: readers}
        existing = {r[0] for r in conn.execute("select rolname from pg_roles")}
        grants = {schema: [r for r in names if r in existing] for schema, names in by_schema.items()}
        roles = sorted({r for names in grants.values() for r in names})
        for schema in sorted({rel.parts()[1][0] for rel in relations}):
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for rel in relations:
            (b_schema, b_table), (p_schema, p_table) = rel.parts()
            built, published = sql.Identifier(b_schema, b_table), sql.Identifier(p_schema, p_table)
            conn.execute(sql.SQL("drop table if exists {}").format(published))
            result.rows += conn.execute(sql.SQL("create table {} as table {}").format(published, built)).rowcount
            for role in grants.get(p_schema, grants.get(None, [])):
                conn.execute(sql.SQL("grant select on {} to {}").format(published, sql.Identifier(role)))
            result.relations.append(rel.published)
    result.seconds = time.perf_counter() - started
    log.info(
        "published %d relations (%d rows) in %.1fs, readable by %s",
        len(result.relations),
        result.rows,
        result.seconds,
        ", ".join(roles) or "their owner only",
    )
    return result


def built_marts(manifest_path: Path | None = None, tag: str | None = None) -> list[Relation]:
    """The marts dbt builds (models under models/marts/ that are tables; with `tag`, only those
    tagged so), as build -> published relations, from dbt's manifest: the build schema is named
    once, in dbt_project.yml."""
    from cs_analytics.transform.dbt import MANIFEST_PATH

    manifest = json.loads(Path(manifest_path or MANIFEST_PATH).read_text())
    relations = [
        Relation(f"{node['schema']}.{node['alias']}", f"{_published_schema(node)}.{node['alias']}")
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["fqn"][1:2] == ["marts"]
        and node["config"]["materialized"] in ("table", "incremental")
        and (tag is None or tag in node["tags"])
    ]
    if not relations:
        raise ValueError(f"no mart model in the dbt manifest {manifest_path or MANIFEST_PATH}")
    if any(rel.built.split(".")[0] == PUBLISHED_SCHEMA for rel in relations):
        raise ValueError(f"dbt builds marts into `{PUBLISHED_SCHEMA}` itself: readers would see unaudited builds")
    return sorted(relations, key=lambda r: r.published)


def _published_schema(node: dict) -> str:
    """`marts`, or the schema a model's `meta.published_schema` names (the clear PII: marts_pii)."""
    return (node["config"].get("meta") or {}).get("published_schema") or PUBLISHED_SCHEMA


def build_schema(manifest_path: Path | None = None) -> str:
    """Where dbt builds the marts (for the gate's mart suites, which name the published schema)."""
    schemas = {rel.built.split(".")[0] for rel in built_marts(manifest_path)}
    if len(schemas) != 1:
        raise ValueError(f"the marts are built into several schemas: {sorted(schemas)}")
    return schemas.pop()


def publish_marts(warehouse: Warehouse, manifest_path: Path | None = None) -> PublishResult:
    """Publish every mart dbt built (after the gate passed on the build), readable by BI."""
    return publish(warehouse, built_marts(manifest_path), readers=READERS)


def publish_ml_outputs(warehouse: Warehouse, manifest_path: Path | None = None) -> PublishResult:
    """Publish the presentation marts over the models' outputs (dbt tag `ml_outputs`), which the
    ml_scoring DAG rebuilds after each scoring run, readable by BI."""
    return publish(warehouse, built_marts(manifest_path, tag="ml_outputs"), readers=READERS)


def main() -> None:
    """`python -m cs_analytics.transform.publish`: publish the marts of a manual `dbt build`
    (run the quality gate first: the DAG publishes only what passed it)."""
    import os

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(publish_marts(Warehouse(os.environ["WAREHOUSE_URL"])).to_dict(), indent=2))


if __name__ == "__main__":
    main()
